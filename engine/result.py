"""What generate/redraft return, the draft a redraft replays, and the streaming wrapper."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field

from .messages import Message, Prompt, message_text
from .spans import Span, TokenEvent
from .stats import Stats


@dataclass(frozen=True)
class Draft:
    """An old answer to replay: its token ids and, when known, the prompt it answered.

    The prompt lets the edit-aware guards see what the edit changed; without it, only the
    digit and copy guards apply. `margins` are the decision margins the tokens were chosen at
    (`Result.margins`); without them no old decision counts as a near-tie. `ended` says the
    answer ended at an end of generation (`Stats.ended`: the model's own, or an older answer's
    end held), not at a token limit: the policy may then hold its end too. Store
    `Result.draft` (or its tokens, prompt, margins and `ended`) to redraft in another process
    without the whole Result.
    """

    tokens: Sequence[int]
    prompt: Prompt | None = None
    margins: Sequence[float] | None = None
    ended: bool = False

    def __post_init__(self) -> None:
        if self.margins is not None and len(self.margins) != len(self.tokens):
            raise ValueError(
                f"a draft of {len(self.tokens)} tokens needs as many margins, "
                f"got {len(self.margins)}"
            )


@dataclass
class Result:
    """One answer.

    text: the answer text; tokens: its token ids (no end-of-generation token);
    spans: held/rewritten spans with their text (one rewritten span for a fresh answer);
    stats: counters and timings; messages: the chat messages it answered;
    rule: the acceptance rule used (`None` for a fresh answer);
    margins: per token, its logit minus the best other logit where it was decided.
    """

    text: str
    tokens: list[int]
    spans: list[Span]
    stats: Stats
    messages: list[Message] = field(default_factory=list)
    rule: str | None = None
    margins: list[float] = field(default_factory=list)

    @property
    def prompt_text(self) -> str:
        """The contents of the prompt's messages (what an edit changes)."""
        return message_text(self.messages)

    @property
    def draft(self) -> Draft:
        margins = list(self.margins) if len(self.margins) == len(self.tokens) else None
        return Draft(list(self.tokens), self.messages or None, margins, self.stats.ended)


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

    def run(self, on_event: Callable[[TokenEvent], None] | None = None) -> Result:
        """Consume every event (handing each to `on_event`) and return the result."""
        for event in self:
            if on_event is not None:
                on_event(event)
        assert self.result is not None
        return self.result
