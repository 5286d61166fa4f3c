"""Statistics and table cells of benchmarks/serve_peer.py, and its progress lines."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    return {"median": median(values), "min": min(values, default=None),
            "max": max(values, default=None)}


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def meets(value: float | None, ok: Callable[[float], bool]) -> str:
    return "" if value is None else (" ✓" if ok(value) else " ✗")


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
