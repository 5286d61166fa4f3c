"""Stability of the tolerant arm under edits that do not change a document's meaning."""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from statistics import median
from typing import Any

TRIVIAL_EDITS = ("typo", "whitespace", "punctuation")
_WORD = re.compile(r"\w+", re.UNICODE)


def changed_words(before: str, after: str) -> set[str]:
    """Lower-cased words that one text has and the other lost or gained, in order."""
    a = [w.lower() for w in _WORD.findall(before)]
    b = [w.lower() for w in _WORD.findall(after)]
    changed: set[str] = set()
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op != "equal":
            changed.update(a[i1:i2])
            changed.update(b[j1:j2])
    return changed


def kept_apart_from_edit(old_answer: str, new_answer: str, doc_before: str, doc_after: str) -> bool:
    """True when the new answer's words differ from the old answer's only in words the edit
    changed in the document (a whitespace or punctuation edit must leave the words as they
    were; the answer's own spacing and punctuation are not compared)."""
    return changed_words(old_answer, new_answer) <= changed_words(doc_before, doc_after)


def stability(cases: Sequence[tuple[str | None, float, bool]]) -> dict[str, Any] | None:
    """Summary over (edit label, tolerant held fraction, kept apart from the edit) of a group's
    cases; None when the group has no trivial edit."""
    trivial = [(held, kept) for edit, held, kept in cases if edit in TRIVIAL_EDITS]
    if not trivial:
        return None
    held = [h for h, _ in trivial]
    return {
        "edits": list(TRIVIAL_EDITS),
        "cases": len(trivial),
        "median_held_fraction": median(held),
        "min_held_fraction": min(held),
        "unchanged_apart_from_edit": sum(1 for _, kept in trivial if kept),
    }
