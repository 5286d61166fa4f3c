"""Defaults shared by the engine and its callers (importing this module costs nothing)."""

DEFAULT_MAX_TOKENS = 256
DEFAULT_N_CTX = 4096
RULE_NAMES = ("tolerant", "exact")  # the built-in acceptance rules, the default first
# Tokens after a jump back into the old answer held only on exact match or a near-tie. Swept
# over K = 0, 1, 2, 4 on the suite's trivial and factual edits (bench/README.md): K >= 1 bought
# nothing on either model, K = 1 cut one typo case from 0.96 to 0.38 held, and K >= 2 lost an
# expected word in a canary. Off by default; Engine(probation=K) turns it on.
DEFAULT_PROBATION = 0
# Answer tokens at the start held on exact match only when the edit inserted content, as a
# near-tie also when it inserted none, and by the band only when it changed no word (see
# replay.replay). Swept over K = 1, 2, 4, 8 on the same edits (bench/README.md): on Gemma 3,
# K = 2 ends the one attributable regression (a coin flip at the second token kept an old answer
# that never stated the new outcome) and keeps the trivial edits' held fractions; K >= 4 cut a
# typo case from 1.00 to 0.02.
DEFAULT_START_PROBATION = 2
PROMPT_REUSE_MODES = ("exact", "blend")  # how a prefill reuses the cache; the default first
# A blend decodes the first BLEND_BRIDGE tokens of each kept run and the last BLEND_TAIL tokens
# of the prompt, keeps no run shorter than BLEND_MIN_KEEP, and prefills exactly once shifted
# ranges cover more than BLEND_DRIFT_BUDGET of the cache.
BLEND_BRIDGE = 4
BLEND_TAIL = 16
BLEND_MIN_KEEP = 16
BLEND_DRIFT_BUDGET = 0.25
