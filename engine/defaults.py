"""Defaults shared by the engine and its callers (importing this module costs nothing)."""

DEFAULT_MAX_TOKENS = 256
DEFAULT_N_CTX = 4096
RULE_NAMES = ("tolerant", "exact")  # the built-in acceptance rules, the default first
DEFAULT_PROBATION = 2  # tokens after a jump into the old answer held only on exact match
