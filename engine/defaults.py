"""Defaults shared by the engine and its callers (importing this module costs nothing)."""

DEFAULT_MAX_TOKENS = 256
DEFAULT_N_CTX = 4096
RULE_NAMES = ("tolerant", "exact")  # the built-in acceptance rules, the default first
# Answer tokens that form its opening (policy.Place.OPENING). Swept over K = 1, 2, 4, 8 on the
# suite's trivial and factual edits: on Gemma 3, K = 2 ends the one attributable regression (a
# coin flip at the second token kept an old answer that never stated the new outcome) and keeps
# the trivial edits' held fractions; K >= 4 cut a typo case from 1.00 to 0.02.
DEFAULT_START_PROBATION = 2
PROMPT_REUSE_MODES = ("exact", "blend")  # how a prefill reuses the cache; the default first
# A blend decodes the first BLEND_BRIDGE tokens of each kept run and the last BLEND_TAIL tokens
# of the prompt, keeps no run shorter than BLEND_MIN_KEEP, and prefills exactly once shifted
# ranges cover more than BLEND_DRIFT_BUDGET of the cache.
BLEND_BRIDGE = 4
BLEND_TAIL = 16
BLEND_MIN_KEEP = 16
BLEND_DRIFT_BUDGET = 0.25
