"""What generate/redraft return, and the streaming wrapper around them."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from .spans import Span, TokenEvent
from .stats import Stats

Message = dict[str, str]


def message_text(messages: list[Message]) -> str:
    """The contents of chat messages joined by blank lines: the text an edit changes."""
    return "\n\n".join(m["content"] for m in messages)


@dataclass
class Result:
    """One answer.

    text: the answer text; tokens: its token ids (no end-of-generation token);
    spans: held/rewritten spans with their text (one rewritten span for a fresh answer);
    stats: counters and timings; messages: the chat messages it answered;
    rule: the acceptance rule used (`None` for a fresh answer).
    """

    text: str
    tokens: list[int]
    spans: list[Span]
    stats: Stats
    messages: list[Message] = field(default_factory=list)
    rule: str | None = None

    @property
    def prompt_text(self) -> str:
        """The contents of the prompt's messages (what an edit changes)."""
        return message_text(self.messages)


class Stream:
    """Iterate to receive `TokenEvent`s as tokens are decided; then read `.result`.

    Stopping early (break, or `close()`) cancels the call; the engine's cache stays consistent
    and `.result` stays None.
    """

    def __init__(self, gen: Generator[TokenEvent, None, Result]):
        self._gen = gen
        self.result: Result | None = None

    def __iter__(self) -> Iterator[TokenEvent]:
        self.result = yield from self._gen

    def close(self) -> None:
        self._gen.close()

    def run(self) -> Result:
        """Consume every event and return the result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result
