"""Acceptance rules: what a redraft may hold, prepared once per redraft as an `EditContext`.

A rule is any object with `name` and `prepare(edit, opening=..., ...) -> EditContext`; the
replay asks that context at every position (`EditContext.holds`). The exact rule holds only
the model's own choices (lossless speculative decoding). The tolerant rule classifies the edit
once, reads the old answer's guarded words, and leaves the rest to the table in policy.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .defaults import RULE_NAMES
from .guards import (
    Edit,
    guarded_indices,
    inserted_token_ids,
    reaches_edit,
    removed_indices,
    same_but_spacing,
    same_words,
    typos_only,
)
from .loops import repeated_indices
from .policy import (
    ABLATIONS,
    CONTENT_OPENING_TOKENS,
    EXPERIMENTS,
    KEPT_WORDS,
    REJOIN_TOKENS,
    Band,
    EditContext,
    EditKind,
    band_margin,
    check_measures,
)

__all__ = ["AcceptanceRule", "ExactRule", "TolerantRule", "band_margin", "rule_by_name"]


@runtime_checkable
class AcceptanceRule(Protocol):
    @property
    def name(self) -> str: ...

    def prepare(self, edit: Edit) -> EditContext: ...


@dataclass(frozen=True)
class ExactRule:
    """Hold a draft token only where it is the fresh argmax (lossless speculative decoding)."""

    name: str = "exact"

    def prepare(self, edit: Edit) -> EditContext:
        return EditContext(eog=edit.eog)


@dataclass(frozen=True)
class TolerantRule:
    """The policy table of policy.py over an entropy-floor band (the default rule).

    `tau`, `floor` and `top_k` shape the band; `copy_min_len` is the shortest word that counts
    as copied content. `ablate` switches measures off (`policy.ABLATIONS`); `experiments`
    switches on measures that are off by default (`policy.EXPERIMENTS`).
    """

    tau: float = 3.0
    floor: float = 1.0
    top_k: int = 20
    copy_min_len: int = 6
    ablate: frozenset[str] = field(default=frozenset())
    experiments: frozenset[str] = field(default=frozenset())
    name: str = "tolerant"

    def __post_init__(self) -> None:
        known = {**ABLATIONS, **EXPERIMENTS}
        object.__setattr__(self, "ablate", check_measures(tuple(self.ablate), known, "ablation"))
        object.__setattr__(self, "experiments",
                           check_measures(tuple(self.experiments), EXPERIMENTS, "experiment"))

    def classify(self, edit: Edit) -> EditKind:
        """What the edit did, decided once for the whole redraft."""
        return self._classified(edit)[0]

    def _classified(self, edit: Edit) -> tuple[EditKind, frozenset[int]]:
        """The edit's kind, and for a content edit the token ids of what it inserted."""
        old, new = edit.old_prompt, edit.new_prompt
        none: frozenset[int] = frozenset()
        if old is None:
            return EditKind.UNKNOWN, none
        if old == new:
            return EditKind.UNCHANGED, none
        if "kept_words" not in self.ablate and same_words(old, new):
            kind = EditKind.SPACING if same_but_spacing(old, new) else EditKind.PUNCTUATION
            return kind, none
        if "inserted_veto" in self.ablate:
            return EditKind.DELETION, none
        if "typos" not in self.ablate and typos_only(old, new, edit.tokenize):
            return EditKind.TYPO, none
        inserted = inserted_token_ids(edit)
        return (EditKind.CONTENT if inserted else EditKind.DELETION), inserted

    def prepare(self, edit: Edit) -> EditContext:
        """The policy for one redraft; the engine adds the old margins, noise and opening."""
        kind, inserted = self._classified(edit)
        band = Band(self.tau, self.floor, self.top_k)
        ended = edit.ended and "old_end" not in self.ablate
        near_end = "near_end" not in self.ablate
        rejoin = 0 if "rejoin" in self.ablate else REJOIN_TOKENS
        if kind is EditKind.UNCHANGED:
            return EditContext(edit=kind, band=band, eog=edit.eog, near_end=near_end,
                               old_ended=ended, rejoin_tokens=rejoin)
        fixed, copies = (guarded_indices(edit, copy_min_len=self.copy_min_len)
                         if "guards" not in self.ablate else (frozenset(), frozenset()))
        return EditContext(
            edit=kind, band=band, fixed=fixed, copies=copies,
            removed=removed_indices(edit) if "removed_veto" not in self.ablate else frozenset(),
            loop=(repeated_indices(edit.draft_pieces) if self._on(kind, "loop_veto")
                  else frozenset()),
            inserted=inserted,
            eog=edit.eog,
            near_end=near_end,
            closers=edit.fences if self._on(kind, "close_veto") else frozenset(),
            cut_before_edit=(edit.cut and kind is EditKind.CONTENT
                             and self._on(kind, "reach_veto")
                             and not reaches_edit(edit, copy_min_len=self.copy_min_len)),
            old_ended=ended,
            content_opening=(CONTENT_OPENING_TOKENS if self._on(kind, "content_opening")
                             else 0),
            rejoin_tokens=rejoin,
            end_before_edit=(ended and kind is EditKind.CONTENT
                             and not reaches_edit(edit, copy_min_len=self.copy_min_len)),
        )

    def _on(self, kind: EditKind, veto: str) -> bool:
        """The tail measures guard edits that changed words: where every word was kept, the old
        path needs no new turn and holding it keeps trivial edits stable."""
        wanted = veto in self.experiments if veto in EXPERIMENTS else True
        return kind not in KEPT_WORDS and wanted and veto not in self.ablate


def rule_by_name(name: str) -> AcceptanceRule:
    """The built-in rule called `name` (one of `RULE_NAMES`)."""
    if name == "exact":
        return ExactRule()
    if name == "tolerant":
        return TolerantRule()
    raise ValueError(f"unknown acceptance rule {name!r}: use one of {', '.join(RULE_NAMES)}")
