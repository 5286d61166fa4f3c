"""Where an old answer repeats itself: the stretches a small model writes again in a loop."""

from __future__ import annotations

from collections.abc import Sequence

LOOP_SPAN = 12  # non-blank tokens a stretch must repeat verbatim to count as a loop


def repeated_indices(pieces: Sequence[str], span: int = LOOP_SPAN) -> frozenset[int]:
    """Indices of the tokens inside a stretch of `span` non-blank tokens that the answer already
    wrote earlier (its first occurrence is not counted). Whitespace-only tokens are skipped when
    comparing and belong to the stretch they sit in."""
    kept = [i for i, piece in enumerate(pieces) if piece.strip()]
    keys = [pieces[i] for i in kept]
    seen: set[tuple[str, ...]] = set()
    marked: set[int] = set()
    for start in range(len(keys) - span + 1):
        gram = tuple(keys[start : start + span])
        if gram in seen:
            marked.update(range(kept[start], kept[start + span - 1] + 1))
        else:
            seen.add(gram)
    return frozenset(marked)
