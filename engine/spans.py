"""Token events emitted while an answer is decided, and the held/rewritten spans built from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

HELD: Literal["held"] = "held"
REWRITTEN: Literal["rewritten"] = "rewritten"
SpanKind = Literal["held", "rewritten"]


@dataclass(frozen=True)
class TokenEvent:
    """One emitted token.

    `old_index` is its index in the old answer when it was held; `text` is its piece of the
    answer text (the concatenation of every event's text is the answer, but for a replacement
    character added at the end when the answer stops inside a multi-byte character; a piece
    may be empty while such a character is incomplete); `starts_span` is True when the token opens
    a new held/rewritten span of the result, so a live view can follow the spans as they grow.
    `margin` is the logit of the token minus the best other logit in the row it was decided
    from (negative where a tolerant rule held a token that was not the argmax).
    """

    kind: SpanKind
    token: int
    index: int
    old_index: int | None = None
    text: str = ""
    starts_span: bool = False
    margin: float | None = None


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


class SpanBuilder:
    """Groups events into maximal spans as they arrive; a held span also breaks where the old
    index jumps. Each `add` costs O(len(event.text)), so a live view stays linear."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._text: list[list[str]] = []  # text parts per span, joined when read

    def add(self, ev: TokenEvent) -> bool:
        """Add one event; return True if it started a new span."""
        old_end = None if ev.old_index is None else ev.old_index + 1
        if self.spans:
            last = self.spans[-1]
            held_on = ev.kind == HELD and last.kind == HELD and last.old_end == ev.old_index
            if held_on or (ev.kind == REWRITTEN and last.kind == REWRITTEN):
                self.spans[-1] = replace(last, end=ev.index + 1, old_end=old_end)
                self._text[-1].append(ev.text)
                return False
        self.spans.append(Span(ev.kind, ev.index, ev.index + 1, "", ev.old_index, old_end))
        self._text.append([ev.text])
        return True

    def append_text(self, text: str) -> None:
        """Text that belongs to the last span but came after its last event (a flushed byte)."""
        if text and self._text:
            self._text[-1].append(text)

    def result(self) -> list[Span]:
        return [replace(s, text="".join(parts)) for s, parts in zip(self.spans, self._text)]


def build_spans(events: Iterable[TokenEvent]) -> list[Span]:
    """The spans of a whole sequence of events."""
    builder = SpanBuilder()
    for ev in events:
        builder.add(ev)
    return builder.result()
