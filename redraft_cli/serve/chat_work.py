"""One chat completion on the engine's thread: a fresh answer, or a redraft of the prediction,
yielded as pieces of text that are held (from the prediction) or rewritten, then the result."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from redraft_engine import HELD, Result, Sampling, TokenEvent

from .worker import Turn, Work


@dataclass(frozen=True)
class Piece:
    """Answer text from `tokens` consecutive tokens, all held or all rewritten."""

    text: str
    held: bool
    tokens: int


@dataclass(frozen=True)
class Finished:
    result: Result
    prediction_tokens: int  # the prediction's length in tokens (0 without one)
    max_tokens: int
    # "answer": the prediction was a recent answer of this server, replayed with its prompt
    # and margins; "text": known only as text; None: no prediction
    prediction_source: str | None = None

    @property
    def finish_reason(self) -> str:
        stats = self.result.stats
        return "length" if stats.truncated or stats.emitted >= self.max_tokens else "stop"


@dataclass(frozen=True)
class ChatPlan:
    messages: list[dict[str, str]]
    prediction: str | None
    max_tokens: int
    rule: str
    prompt_reuse: str
    sampling: Sampling | None


def chat_work(plan: ChatPlan) -> Work:
    """The work that answers `plan`: yields `Piece`s, then one `Finished`."""

    def work(turn: Turn) -> Iterator[Piece | Finished]:
        engine = turn.engine
        turn.start_from(plan.messages)
        usual_reuse = engine.prompt_reuse
        engine.prompt_reuse = plan.prompt_reuse
        try:
            if plan.prediction is None:
                stream = engine.stream_generate(
                    plan.messages, max_tokens=plan.max_tokens, should_stop=turn.should_stop,
                    sampling=plan.sampling)
                predicted, source = 0, None
            else:
                draft = turn.answers.draft_for(plan.prediction)
                stream = engine.stream_redraft(
                    plan.messages, plan.prediction if draft is None else draft, rule=plan.rule,
                    max_tokens=plan.max_tokens, should_stop=turn.should_stop,
                    sampling=plan.sampling)
                predicted = (engine.count_tokens(plan.prediction) if draft is None
                             else len(draft.tokens))
                source = "text" if draft is None else "answer"
            sent, held = 0, False
            try:
                for piece in pieces(stream):
                    yield piece
                    sent, held = sent + len(piece.text), piece.held
                    if turn.should_stop():
                        return
            finally:
                stream.close()
            assert stream.result is not None
            if len(stream.result.text) > sent:
                # The answer ended inside a character: the engine's text carries the
                # replacement character its events never did.
                yield Piece(stream.result.text[sent:], held, 0)
            turn.answers.remember(stream.result)
            yield Finished(stream.result, predicted, plan.max_tokens, source)
        finally:
            engine.prompt_reuse = usual_reuse

    return work


def pieces(events: Iterable[TokenEvent]) -> Iterator[Piece]:
    """One piece per token, except that a token whose text is empty (part of a character that
    the next token completes) joins the next piece of its kind."""
    text, held, tokens = "", False, 0
    for event in events:
        is_held = event.kind == HELD
        if tokens and is_held != held:
            yield Piece(text, held, tokens)
            text, tokens = "", 0
        text, held, tokens = text + event.text, is_held, tokens + 1
        if text:
            yield Piece(text, held, tokens)
            text, tokens = "", 0
    if tokens:
        yield Piece(text, held, tokens)
