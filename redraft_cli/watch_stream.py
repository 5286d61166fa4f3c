"""One answer's token stream in `redraft watch`: run to its result unless a newer save of the
file supersedes it (then Cancelled); and how many tokens a confirmation changed in the answer
shown. No console here (what watch draws is in watch_view.py)."""

from __future__ import annotations

from collections.abc import Callable
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from redraft_engine import Stopped

if TYPE_CHECKING:
    from redraft_engine import Result, Stream, TokenEvent


class Cancelled(Exception):
    """A newer save of the same file arrived while its answer was being decoded."""


def consume_unless(
    stream: Stream, superseded: Callable[[], bool],
    on_event: Callable[[TokenEvent], None] | None = None,
) -> Result:
    """Run `stream` to its result, checking between events whether a newer save arrived.

    On a newer save the stream is closed (the engine keeps a consistent KV cache) and
    Cancelled is raised; the caller redrafts again from the last complete answer. A stream
    stopped while its prompt was decoded (`Stopped`) is cancelled the same way.
    """
    try:
        for event in stream:
            if superseded():
                raise Cancelled
            if on_event is not None:
                on_event(event)
    except Stopped:
        raise Cancelled from None
    finally:
        stream.close()
    if stream.result is None:
        raise Cancelled
    return stream.result


def tokens_changed(shown: Result, confirmed: Result) -> int:
    """How many tokens the confirmation changed in the shown answer: the larger of the
    confirmed tokens the shown answer lacks and the shown tokens the confirmed one dropped, in
    a token diff (a confirmation that redrafted the previous answer holds none of the shown)."""
    matcher = SequenceMatcher(None, list(shown.tokens), list(confirmed.tokens), autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    return max(len(confirmed.tokens), len(shown.tokens)) - kept
