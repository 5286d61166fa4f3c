"""Value parsers of the settings, and the bounds and choices they enforce.

Each parser takes a raw value (a TOML value, or the string of a flag or REDRAFT_* variable),
returns the typed value, and raises ValueError with the reason otherwise; config.py names the
place (file and key, variable or option) in front of that reason. The KEYS table in
config_keys.py gives each setting its parser. Also here: the smallest context window accepted
(MIN_N_CTX) and the prompt_reuse choices, with the modes "auto" stands for in each command.
"""

from __future__ import annotations

import re
from typing import Any

from redraft_engine import PROMPT_REUSE_MODES, RULE_NAMES

MIN_N_CTX = 256

# prompt_reuse "auto" is blend in watch, which confirms every blended answer over an exact
# prefill as soon as it is idle, and exact where an answer is final when written (run, bench).
AUTO = "auto"
PROMPT_REUSE_CHOICES = (AUTO, *PROMPT_REUSE_MODES)
WATCH_PROMPT_REUSE = "blend"
FINAL_PROMPT_REUSE = "exact"


# --- value parsers: each takes a raw value (TOML value or string) and returns the typed one ---

def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {raw!r}")
    return raw


def _positive_int(raw: Any) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise ValueError(f"must be a positive integer, got {raw!r}")
    return raw


def _context_size(raw: Any) -> int:
    value = _positive_int(raw)
    # llama.cpp rounds smaller contexts up to 256 but keeps the batch at the requested size,
    # and then aborts the process on a longer prompt; refuse them here instead.
    if value < MIN_N_CTX:
        raise ValueError(f"must be at least {MIN_N_CTX}, got {raw!r}")
    return value


def _seconds(raw: Any) -> float:
    try:
        value = float(raw) if not isinstance(raw, bool) else -1.0
    except (TypeError, ValueError):
        value = -1.0
    if value < 0:
        raise ValueError(f"must be a number of seconds >= 0, got {raw!r}")
    return value


def _rule(raw: Any) -> str:
    if raw not in RULE_NAMES:
        raise ValueError(f"must be one of {', '.join(RULE_NAMES)}, got {raw!r}")
    return raw


def _prompt_reuse(raw: Any) -> str:
    if raw not in PROMPT_REUSE_CHOICES:
        raise ValueError(f"must be one of {', '.join(PROMPT_REUSE_CHOICES)}, got {raw!r}")
    return raw


def _port(raw: Any) -> int:
    value = _positive_int(raw)
    if value > 65535:
        raise ValueError(f"must be a TCP port (1-65535), got {raw!r}")
    return value


def _key_hashes(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"must be SHA-256 hex digests (a list or comma-separated), got {raw!r}")
    digests = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for digest in digests:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"must be SHA-256 hex digests (64 hex digits each; print one with "
                             f"redraft serve --hash-key), got {digest!r}")
    return digests


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 10**3, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6,
          "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}


def parse_size(raw: Any) -> int:
    """Bytes from an integer or a string such as '1GiB', '500 MB', '0'."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", raw if isinstance(raw, str) else "")
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"must be a size such as 1GiB or 500MB, got {raw!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])

