"""The slow tail of a bench: per redraft arm, how far its slowest cases fall behind fresh."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TAIL_SHARE = 0.1  # the slowest tenth of the cases
SLOWEST_LISTED = 5


def slow_tail(speedups: Mapping[str, float | None]) -> dict[str, Any] | None:
    """From each case's arm ÷ fresh speedup (None: not measured): `tenth`, the speedup at or
    under which the slowest tenth of the cases run; `min`; and the slowest cases, slowest
    first. None without any measured case."""
    ranked = sorted((value, case) for case, value in speedups.items() if value is not None)
    if not ranked:
        return None
    in_tenth = max(1, math.ceil(len(ranked) * TAIL_SHARE))
    return {
        "tenth": ranked[in_tenth - 1][0],
        "min": ranked[0][0],
        "slowest": [{"id": case, "speedup": value} for value, case in ranked[:SLOWEST_LISTED]],
    }
