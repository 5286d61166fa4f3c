"""Token events emitted while an answer is decided, and the held/rewritten spans built from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

HELD: Literal["held"] = "held"
REWRITTEN: Literal["rewritten"] = "rewritten"
SpanKind = Literal["held", "rewritten"]


@dataclass(frozen=True)
class TokenEvent:
    """One emitted token. `old_index` is its index in the old answer when it was held."""

    kind: SpanKind
    token: int
    index: int
    old_index: int | None = None


@dataclass(frozen=True)
class Span:
    """A run of emitted tokens `[start, end)` of one kind.

    Held spans also give the old-answer token range `[old_start, old_end)` they were copied from.
    """

    kind: SpanKind
    start: int
    end: int
    text: str = ""
    old_start: int | None = None
    old_end: int | None = None

    @property
    def n_tokens(self) -> int:
        return self.end - self.start


def build_spans(events: Iterable[TokenEvent]) -> list[Span]:
    """Group events into maximal spans; a held span also breaks where the old index jumps."""
    spans: list[Span] = []
    for ev in events:
        if spans:
            last = spans[-1]
            continues_held = (
                ev.kind == HELD and last.kind == HELD and last.old_end == ev.old_index
            )
            continues_rewritten = ev.kind == REWRITTEN and last.kind == REWRITTEN
            if continues_held or continues_rewritten:
                spans[-1] = Span(
                    last.kind,
                    last.start,
                    ev.index + 1,
                    old_start=last.old_start,
                    old_end=None if ev.old_index is None else ev.old_index + 1,
                )
                continue
        spans.append(
            Span(
                ev.kind,
                ev.index,
                ev.index + 1,
                old_start=ev.old_index,
                old_end=None if ev.old_index is None else ev.old_index + 1,
            )
        )
    return spans


def with_text(spans: list[Span], pieces: list[str]) -> list[Span]:
    """Return the spans with `text` filled from per-token text pieces."""
    return [
        Span(s.kind, s.start, s.end, "".join(pieces[s.start : s.end]), s.old_start, s.old_end)
        for s in spans
    ]
