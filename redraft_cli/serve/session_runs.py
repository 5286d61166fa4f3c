"""What a session's refresh or race runs on the engine thread, as work for `EngineWorker`.

A run yields `ArmStart`, `Delta`s and `ArmDone` per arm, and `CANCELLED` when the client went
away or a newer refresh revoked its ticket. An arm is "regenerate" (a fresh answer) or
"redraft" (the previous answer replayed as a draft).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from redraft_engine import HELD, Stopped

from .sessions import Ticket
from .worker import Turn, Work

if TYPE_CHECKING:
    from redraft_engine import Engine, Result

log = logging.getLogger("redraft.serve")

Arm = Literal["regenerate", "redraft"]


@dataclass(frozen=True)
class ArmStart:
    arm: Arm


@dataclass(frozen=True)
class Delta:
    arm: Arm
    text: str
    kind: Literal["held", "new"]


@dataclass(frozen=True)
class ArmDone:
    arm: Arm
    result: Result


CANCELLED = "cancelled"
Item = ArmStart | Delta | ArmDone | str


@dataclass(frozen=True)
class Answering:
    """What an arm needs besides the engine."""

    prompt: str
    rule: str
    max_tokens: int | None
    should_stop: Callable[[], bool]


def refresh_work(prompt: str, draft: Result | None, *, rule: str, max_tokens: int | None,
                 ticket: Ticket) -> Work:
    """Redraft `draft` for `prompt`, or answer it afresh when there is no draft yet."""

    def work(turn: Turn) -> Iterator[Item]:
        job = Answering(prompt, rule, max_tokens, stop_check(turn, ticket))
        turn.start_from(prompt)
        arm: Arm = "regenerate" if draft is None else "redraft"
        if (yield from run_arm(turn.engine, arm, job, draft)) is None:
            yield CANCELLED

    return work


def race_work(prompt: str, draft: Result, *, rule: str, max_tokens: int | None,
              ticket: Ticket) -> Work:
    """A fresh answer to `prompt`, then a redraft of `draft` for it, both from the same KV
    cache: the one the request started from, restored after the fresh answer."""

    def work(turn: Turn) -> Iterator[Item]:
        job = Answering(prompt, rule, max_tokens, stop_check(turn, ticket))
        engine = turn.engine
        turn.start_from(prompt)
        tokens, data = engine.export_state()
        approximate = engine.approximate_ranges
        if (yield from run_arm(engine, "regenerate", job, None)) is None:
            yield CANCELLED
            return
        if not engine.import_state(tokens, data, approximate):
            log.warning("race: the starting KV state did not load again; the redraft arm "
                        "recomputes its whole prompt")
        if (yield from run_arm(engine, "redraft", job, draft)) is None:
            yield CANCELLED

    return work


def stop_check(turn: Turn, ticket: Ticket) -> Callable[[], bool]:
    return lambda: turn.should_stop() or ticket.revoked


def run_arm(engine: Engine, arm: Arm, job: Answering,
            draft: Result | None) -> Generator[Item, None, Result | None]:
    """Stream one answer; its result, or None when it was stopped."""
    yield ArmStart(arm)
    if draft is None:
        stream = engine.stream_generate(job.prompt, max_tokens=job.max_tokens,
                                        should_stop=job.should_stop)
    else:
        stream = engine.stream_redraft(job.prompt, draft, rule=job.rule,
                                       max_tokens=job.max_tokens, should_stop=job.should_stop)
    sent = 0
    kind: Literal["held", "new"] = "new"
    try:
        for event in stream:
            if job.should_stop():
                return None
            kind = "held" if event.kind == HELD else "new"
            if event.text:
                sent += len(event.text)
                yield Delta(arm, event.text, kind)
    except Stopped:
        return None
    finally:
        stream.close()
    result = stream.result
    if result is None:
        return None
    if len(result.text) > sent:  # a byte the decoder held back until the end
        yield Delta(arm, result.text[sent:], kind)
    yield ArmDone(arm, result)
    return result
