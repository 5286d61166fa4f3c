"""Stability of the tolerant arm under edits that do not change a document's meaning."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

from redraft_engine import diff_words

TRIVIAL_EDITS = ("typo", "whitespace", "punctuation")


def changed_words(before: str, after: str) -> frozenset[str]:
    """Lower-cased words that one text has and the other lost or gained, in order."""
    removed, inserted = diff_words(before, after)
    return removed | inserted


def kept_apart_from_edit(old_answer: str, new_answer: str, doc_before: str, doc_after: str) -> bool:
    """True when the new answer's words differ from the old answer's only in words the edit
    changed in the document (a whitespace or punctuation edit must leave the words as they
    were; the answer's own spacing and punctuation are not compared)."""
    return changed_words(old_answer, new_answer) <= changed_words(doc_before, doc_after)


def stability(cases: Sequence[tuple[str | None, float | None, bool]]) -> dict[str, Any] | None:
    """Summary over (edit label, tolerant held fraction, kept apart from the edit) of a group's
    cases; None when the group has no trivial edit. A held fraction of None is an empty answer
    (the model ended it at once: nothing to hold); those are counted apart, not as 0 held."""
    trivial = [(held, kept) for edit, held, kept in cases if edit in TRIVIAL_EDITS]
    if not trivial:
        return None
    held = [h for h, _ in trivial if h is not None]
    return {
        "edits": list(TRIVIAL_EDITS),
        "cases": len(trivial),
        "median_held_fraction": median(held) if held else None,
        "min_held_fraction": min(held) if held else None,
        "empty_answers": len(trivial) - len(held),
        "unchanged_apart_from_edit": sum(1 for _, kept in trivial if kept),
    }
