"""Acceptance rules: may a draft token be held at a position, given the fresh logits there?

A rule is any object with `name`, `prepare(edit) -> EditContext` and
`accept(logits, argmax, draft, old_index, ctx, strict=...) -> bool`. Rules never hold a token
that is not the argmax unless their own criterion allows it; the replay loop emits the argmax
otherwise. `strict` marks a position where tolerance has not been earned yet (the first tokens
after a jump back into the old answer): hold there only on exact match or a near-tie that the
edit did not move. The replay holds the answer's opening tokens as near-ties only when the edit
inserted no content (a misspelling inserts none), and by the band only when the edit changed no
word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .defaults import RULE_NAMES
from .guards import (
    Edit,
    EditContext,
    exact_only_indices,
    inserted_token_ids,
    removed_indices,
    same_but_spacing,
    same_words,
    typos_only,
)


@runtime_checkable
class AcceptanceRule(Protocol):
    @property
    def name(self) -> str: ...

    def prepare(self, edit: Edit) -> EditContext: ...

    def accept(
        self, logits: np.ndarray, argmax: int, draft: int, old_index: int, ctx: EditContext,
        *, strict: bool = False,
    ) -> bool: ...


@dataclass(frozen=True)
class ExactRule:
    """Hold a draft token only where it is the fresh argmax (lossless speculative decoding)."""

    name: str = "exact"

    def prepare(self, edit: Edit) -> EditContext:
        return EditContext(eog=edit.eog)

    def accept(
        self, logits: np.ndarray, argmax: int, draft: int, old_index: int, ctx: EditContext,
        *, strict: bool = False,
    ) -> bool:
        return draft == argmax


def band_margin(logits: np.ndarray, top_k: int, tau: float, floor: float) -> tuple[float, float]:
    """Return (k-th largest logit, allowed gap) for the entropy-floor band at one position.

    The allowed gap grows from `floor` (a peaked top-k) to `tau` (a flat top-k) with the
    normalised entropy of the top-k probabilities renormalised over those k tokens.
    """
    top = np.partition(logits, -top_k)[-top_k:]
    z = top - top.max()
    p = np.exp(z)
    p /= p.sum()
    entropy = float(-(p * np.log(np.maximum(p, 1e-30))).sum())
    h = entropy / math.log(top_k)
    return float(top.min()), floor + (tau - floor) * h


@dataclass(frozen=True)
class TolerantRule:
    """Entropy-floor band with guards (the default).

    Holds draft `d` where it is in the top-k and `logit(argmax) - logit(d)` is within a band
    that widens with the local entropy, except:
    - never where the argmax ends generation;
    - only on exact match where the argmax is a content token the edit inserted;
    - only on exact match for a word the edit removed from the prompt (`guard_removed`: the
      old value of an edited number or name, even where the new decision is a near-tie);
    - for guarded tokens (digits, words removed by the edit, content words copied from a
      prompt unless the edit changed only spacing: see `guards.exact_only_indices`) and at
      strict positions, only on exact match or where the position is a near-tie both times:
      its old margin and its new gap to the argmax both within the model's measured logit noise
      (`EditContext.near_tie`).
    With `trust_kept_words`, an edit that changed no word (spacing or punctuation only) lets
    the band hold the answer's opening tokens (see `replay`), and one that changed only spacing
    leaves copies unguarded: every other character of the prompt is as it was, so no copy can
    be stale. Punctuation is not trusted that far ("!" negates code, "#" comments it out).
    With `trust_typos`, an edit whose every changed word is a misspelling of the word it
    replaced (`guards.typos_only`) inserts no content: a misspelt word's pieces do not bar the
    band where they are the argmax, and the answer's opening may hold near-ties.
    An unedited prompt guards nothing, whatever the flags.
    """

    tau: float = 3.0
    floor: float = 1.0
    top_k: int = 20
    copy_min_len: int = 6
    guard_copies: bool = True
    guard_inserted: bool = True
    guard_removed: bool = True
    name: str = "tolerant"
    trust_kept_words: bool = True
    trust_typos: bool = True

    def prepare(self, edit: Edit) -> EditContext:
        if edit.old_prompt == edit.new_prompt:
            # Nothing was edited, so no copied content can be stale: hold the answer's phrasing
            # and facts alike (batched decodes would otherwise re-derive near-ties differently).
            return EditContext(eog=edit.eog, words_kept=True)
        kept = (self.trust_kept_words and edit.old_prompt is not None
                and same_words(edit.old_prompt, edit.new_prompt))
        respaced = kept and same_but_spacing(edit.old_prompt or "", edit.new_prompt)
        exact_only = (
            exact_only_indices(edit, copy_min_len=self.copy_min_len, copies=not respaced)
            if self.guard_copies
            else frozenset()
        )
        typos = (self.guard_inserted and self.trust_typos and edit.old_prompt is not None
                 and typos_only(edit.old_prompt, edit.new_prompt, edit.tokenize))
        inserted = (inserted_token_ids(edit) if self.guard_inserted and not typos
                    else frozenset())
        removed = removed_indices(edit) if self.guard_removed else frozenset()
        return EditContext(exact_only=exact_only, removed=removed, inserted=inserted,
                           eog=edit.eog, words_kept=kept)

    def accept(
        self, logits: np.ndarray, argmax: int, draft: int, old_index: int, ctx: EditContext,
        *, strict: bool = False,
    ) -> bool:
        if draft == argmax:
            return True
        if argmax in ctx.eog or argmax in ctx.inserted or old_index in ctx.removed:
            return False
        if strict or old_index in ctx.exact_only:
            return ctx.near_tie(old_index, float(logits[argmax]) - float(logits[draft]))
        kth, allowed = band_margin(logits, min(self.top_k, logits.shape[0]), self.tau, self.floor)
        d = float(logits[draft])
        return d >= kth and float(logits[argmax]) - d <= allowed


def rule_by_name(name: str) -> AcceptanceRule:
    """The built-in rule called `name` (one of `RULE_NAMES`)."""
    if name == "exact":
        return ExactRule()
    if name == "tolerant":
        return TolerantRule()
    raise ValueError(f"unknown acceptance rule {name!r}: use one of {', '.join(RULE_NAMES)}")
