"""What happened to one job: how its answer was obtained."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """How a job's answer came about.

    UNCHANGED: source and output already up to date; CACHED: the stored answer was written
    again (the output was missing or stale); STALE: `--check` found the output out of date;
    FRESH: answered from scratch; REDRAFT: the previous answer was replayed under the edit.
    """

    UNCHANGED = "unchanged"
    CACHED = "cached"
    STALE = "stale"
    FRESH = "fresh"
    REDRAFT = "redraft"

    @property
    def decoded(self) -> bool:
        """Whether the model produced this answer now (so its stats describe real work)."""
        return self in (Mode.FRESH, Mode.REDRAFT)
