"""The replay / re-anchor state machine.

Walks an old answer as a draft under a new prompt: verify windows of draft tokens in one batched
decode, hold tokens the rule accepts, emit the fresh argmax at the first rejection, roll the
rejected tail back, decode serially, and re-anchor into the old answer after each rewritten
token by matching the last few emitted tokens at or after a watermark. With an empty draft it
is plain greedy decoding.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from .guards import EditContext
from .rules import AcceptanceRule
from .spans import HELD, REWRITTEN, TokenEvent
from .stats import Stats
from .window import WindowPolicy


class Decoder(Protocol):
    """What the state machine needs from a model whose KV cache holds the prompt so far."""

    @property
    def n_tokens(self) -> int:
        """Tokens in the cache (prompt and emitted answer)."""
        ...

    def feed(self, tokens: Sequence[int], *, all_logits: bool, phase: str) -> np.ndarray:
        """Append tokens; return logits rows (one per token if all_logits, else one: the last).

        Row i is the model's distribution for the token after tokens[:i+1]. The rows may be a
        view that the next call overwrites.
        """
        ...

    def truncate(self, n_tokens: int) -> None:
        """Drop every cached token from position `n_tokens` on."""
        ...


class AnchorIndex:
    """Finds where an n-gram of emitted tokens occurs in the old answer at or after a watermark."""

    def __init__(self, draft: Sequence[int], n: int):
        self.n = n
        self.draft = draft
        self._starts: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i in range(len(draft) - n + 1):
            self._starts[tuple(draft[i : i + n])].append(i)

    def resume_at(self, recent: Sequence[int], watermark: int) -> int | None:
        """Draft index right after the first match starting at or after `watermark`, if any."""
        if len(recent) < self.n:
            return None
        starts = self._starts.get(tuple(recent))
        if not starts:
            return None
        k = bisect_left(starts, watermark)
        if k == len(starts):
            return None
        after = starts[k] + self.n
        return after if after < len(self.draft) else None


def replay(
    decoder: Decoder,
    next_logits: np.ndarray,
    draft: Sequence[int],
    rule: AcceptanceRule,
    ctx: EditContext,
    policy: WindowPolicy,
    *,
    max_tokens: int,
    anchor_n: int = 3,
    counters: Stats | None = None,
) -> Iterator[TokenEvent]:
    """Yield the emitted tokens of the answer, each `held` (from the draft) or `rewritten`.

    `next_logits` is the distribution after the prompt. `counters` receives the counts of
    held and rewritten tokens, divergences, windows, rollbacks and re-anchors. Generation
    stops at an end-of-generation argmax or after `max_tokens` tokens. The decoder's cache
    ends holding prompt and answer (the last emitted token may be left undecoded when
    `max_tokens` is reached).
    """
    c = counters if counters is not None else Stats()
    anchors = AnchorIndex(draft, anchor_n)
    recent: deque[int] = deque(maxlen=anchor_n)
    logits = np.array(next_logits, copy=True)
    emitted = 0
    p: int | None = 0 if draft else None
    watermark = 0

    def rewritten(token: int) -> TokenEvent:
        nonlocal emitted
        c.rewritten += 1
        recent.append(token)
        emitted += 1
        return TokenEvent(REWRITTEN, token, emitted - 1)

    def held(token: int, old_index: int) -> TokenEvent:
        nonlocal emitted
        c.held += 1
        recent.append(token)
        emitted += 1
        return TokenEvent(HELD, token, emitted - 1, old_index)

    while emitted < max_tokens:
        if p is not None and p >= len(draft):
            p = None
        if p is not None:
            top = int(logits.argmax())
            if not rule.accept(logits, top, draft[p], p, ctx):
                c.divergences += 1
                policy.observe(0, rejected=True)
                watermark = max(watermark, p)
                p = None
                continue  # the serial branch emits the argmax as the correction
            size = min(policy.next_size(), len(draft) - p, max_tokens - emitted)
            window = draft[p : p + size]
            base = decoder.n_tokens
            rows = decoder.feed(window, all_logits=True, phase="verify")
            c.windows += 1
            tops = rows.argmax(axis=1)
            yield held(window[0], p)
            j = 1
            while j < size and rule.accept(rows[j - 1], int(tops[j - 1]), window[j], p + j, ctx):
                yield held(window[j], p + j)
                j += 1
            if j == size:
                policy.observe(size, rejected=False)
                logits = np.array(rows[size - 1], copy=True)
                p += size
                watermark = max(watermark, p)
                continue
            c.divergences += 1
            policy.observe(j, rejected=True)
            correction = int(tops[j - 1])
            decoder.truncate(base + j)
            c.rollbacks += 1
            watermark = max(watermark, p + j)
            p = None
            if correction in ctx.eog or emitted >= max_tokens:
                return
            yield rewritten(correction)
            if emitted >= max_tokens:
                return
            logits = np.array(decoder.feed([correction], all_logits=False, phase="serial")[0])
        else:
            token = int(logits.argmax())
            if token in ctx.eog:
                return
            yield rewritten(token)
            if emitted >= max_tokens:
                return
            logits = np.array(decoder.feed([token], all_logits=False, phase="serial")[0])
        if draft:
            resume = anchors.resume_at(list(recent), watermark)
            if resume is not None:
                c.reanchors += 1
                p = resume
                watermark = resume
