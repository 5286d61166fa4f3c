"""The replay / re-anchor state machine.

Walks an old answer as a draft under a new prompt: verify windows of draft tokens in one batched
decode, hold the tokens the policy holds (`EditContext.holds`), emit the model's own token at
the first refusal, roll the refused tail back, and re-anchor into the old answer after each
rewritten token by matching the last few emitted tokens, resuming past a watermark. Where the
old answer offers no anchor, a rewritten token rides with a quote of the prompt (held on exact
match only), else it is decoded alone. With an empty draft it is plain greedy decoding.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .policy import EditContext
from .sampling import Chooser, greedy
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
    """Finds where an n-gram of emitted tokens occurs in the old answer, to resume past a
    watermark.

    Whitespace-only tokens (`is_blank`) are left out of the n-grams on both sides, so an edit
    that only changed spacing ("\n" against "\n\n") does not hide the place to resume.
    """

    def __init__(
        self, draft: Sequence[int], n: int, is_blank: Callable[[int], bool] = lambda t: False
    ):
        self.n = n
        self.draft = draft
        self.is_blank = is_blank
        self._kept = [i for i, t in enumerate(draft) if not is_blank(t)]
        keys = [draft[i] for i in self._kept]
        self._starts: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for k in range(len(keys) - n + 1):
            self._starts[tuple(keys[k : k + n])].append(k)

    def resume_at(
        self, recent: Sequence[int], watermark: int, *, after_blank: bool = False,
        to_end: bool = False,
    ) -> int | None:
        """Draft index right after the first match that resumes past `watermark`, if any.

        `recent` holds the last n non-blank emitted tokens; `after_blank` says that blank
        tokens were emitted after them, so the draft's own blanks there are skipped too.
        A match at the draft's very end resumes there (`len(draft)`) only `to_end`.
        """
        if len(recent) < self.n:
            return None
        starts = self._starts.get(tuple(recent))
        if not starts:
            return None
        first = bisect_left(starts, bisect_left(self._kept, watermark) - self.n)
        for start in starts[first:]:
            after = self._kept[start + self.n - 1] + 1
            while after_blank and after < len(self.draft) and self.is_blank(self.draft[after]):
                after += 1
            if after > watermark:
                return after if after < len(self.draft) or to_end else None
        return None


def decision_margin(row: np.ndarray, token: int) -> float:
    """The logit of `token` minus the best other logit of `row` (restored after the look)."""
    chosen = float(row[token])
    row[token] = -np.inf
    try:
        return chosen - float(row.max())
    finally:
        row[token] = chosen


def quotable(prompt: Sequence[int], eog: frozenset[int]) -> list[int]:
    """The prompt with end-of-generation tokens blanked, so a quote never drafts one."""
    return [-1 if t in eog else t for t in prompt]


@dataclass(frozen=True)
class ReplaySettings:
    """How one replay runs.

    max_tokens: the answer's length limit. anchor_n: emitted tokens matched to re-anchor.
    prompt: token ids to quote from (empty: no quotes); quote_windows sizes the quote windows.
    is_blank: whitespace-only tokens, skipped by anchors and quotes.
    choose(row, draft_token): the model's own token at a position (the argmax by default; see
    sampling.py for lossless sampling, with which only exact matches are held).
    """

    max_tokens: int
    anchor_n: int = 3
    prompt: Sequence[int] = ()
    quote_windows: WindowPolicy | None = None
    is_blank: Callable[[int], bool] = lambda t: False
    choose: Chooser = greedy


@dataclass
class Window:
    """Tokens to decode in one batch: `fed[0]` is emitted already, `fed[1:]` are candidates,
    from the old answer at `next_old` on, or quoted from the prompt."""

    fed: list[int]
    next_old: int
    quoting: bool = False


class Replay:
    """One walk of `draft` under a new prompt (see the module docstring); iterate `events`."""

    def __init__(
        self, decoder: Decoder, next_logits: np.ndarray, draft: Sequence[int], ctx: EditContext,
        windows: WindowPolicy, settings: ReplaySettings, counters: Stats | None = None,
    ):
        self.decoder, self.draft, self.ctx, self.windows = decoder, draft, ctx, windows
        self.logits = np.array(next_logits, copy=True)  # the distribution for the next token
        self.s = settings
        self.c = counters if counters is not None else Stats()
        self.anchors = AnchorIndex(draft, settings.anchor_n, settings.is_blank)
        quoting = draft and settings.quote_windows is not None
        self.source = quotable(settings.prompt, ctx.eog) if quoting else []
        self.quotes = (AnchorIndex(self.source, settings.anchor_n,
                                   lambda t: t >= 0 and settings.is_blank(t))
                       if self.source else None)
        self.recent: deque[int] = deque(maxlen=settings.anchor_n)  # last non-blank emitted
        self.after_blank = False
        self.block_open = False  # the answer has a fenced block open
        self.pending: int | None = None  # emitted, not decoded yet
        self.emitted = 0
        self.p: int | None = 0 if draft else None  # the next old-answer token to verify
        self.watermark = 0
        self.rejoined: int | None = None  # `emitted` at the last re-anchor
        self.done = False  # ended at an end of generation: the model's, or the old one held

    def events(self) -> Iterator[TokenEvent]:
        """The emitted tokens, each held (from the draft) or rewritten. The decoder's cache ends
        holding prompt and answer (the last token may be left undecoded at `max_tokens`)."""
        while not self.done and self.emitted < self.s.max_tokens:
            if self.p is not None and self.p >= len(self.draft):
                self.p = None
                if self._holds_old_end():
                    break
            if self.pending is None:
                window = yield from self._from_logits()
            else:
                window = self._with_pending()
            if window is not None:
                yield from self._verify(window)
        self.c.ended = self.done

    # -- the policy's question, and what each answer costs

    def _holds(self, row: np.ndarray, top: int, old_index: int) -> bool:
        return self.ctx.holds(row, top, self.draft[old_index], old_index, self.emitted,
                              self.block_open, self.rejoined)

    def _holds_old_end(self) -> bool:
        """At the end of the old answer, with the logits after its last token at hand: end here
        too if the policy holds the old end where the model would write on."""
        if not self.ctx.old_ended or self.ctx.band is None:
            return False
        top = self.s.choose(self.logits, None)
        if top in self.ctx.eog or not self.ctx.holds_end(self.logits, top, self.emitted,
                                                         self.block_open):
            return False
        self.done = self.c.held_end = True
        return True

    def _from_logits(self) -> Generator[TokenEvent, None, Window | None]:
        """Decide the next token from the logits at hand: hold the draft's and start a window
        after it, or write the model's own."""
        p = self.p
        top = self.s.choose(self.logits, self.draft[p] if p is not None else None)
        if p is not None and not self._holds(self.logits, top, p):
            self.c.divergences += 1
            self.windows.observe(0, rejected=True)
            self.watermark = max(self.watermark, p)
            self.p = p = None
        if p is None:
            if top in self.ctx.eog:
                self.done = True
                return None
            yield self._rewritten(top, decision_margin(self.logits, top))
            self.pending = top
            return None
        size = min(self.windows.next_size(), len(self.draft) - p,
                   self.s.max_tokens - self.emitted)
        fed = list(self.draft[p : p + size])
        yield self._held(fed[0], p, decision_margin(self.logits, fed[0]))
        return Window(fed, p + 1)

    def _with_pending(self) -> Window | None:
        """Find candidates for the pending token to ride with (a re-anchor into the old answer,
        else a quote of the prompt); without any, decode it alone. A re-anchor at the very end
        of an old answer that ended has no candidates: the pending token is decoded alone, and
        the end is checked after it."""
        pending = self.pending
        assert pending is not None
        resume = (self.anchors.resume_at(list(self.recent), self.watermark,
                                         after_blank=self.after_blank,
                                         to_end=self.ctx.old_ended) if self.draft else None)
        if resume is not None:
            self.c.reanchors += 1
            self.p = resume
            self.rejoined = self.emitted
            if resume < len(self.draft):  # at the end, a later anchor may still resume earlier
                self.watermark = resume
            size = self.windows.next_size(first_checked=False)
            window = Window([], resume)
            candidates = list(self.draft[resume : resume + size])
        else:
            candidates = self._quote()
            window = Window([], -1, quoting=bool(candidates))
        candidates = candidates[: self.s.max_tokens - self.emitted]
        self.pending = None
        if not candidates:
            self.logits = np.array(self.decoder.feed([pending], all_logits=False,
                                                     phase="serial")[0])
            return None
        window.fed = [pending, *candidates]
        return window

    def _quote(self) -> list[int]:
        """The prompt's continuation after the last emitted tokens, if they occur there."""
        if self.quotes is None or self.s.quote_windows is None:
            return []
        at = self.quotes.resume_at(list(self.recent), 0, after_blank=self.after_blank)
        if at is None:
            return []
        size = self.s.quote_windows.next_size(first_checked=False)
        candidates = list(self.source[at : at + size])
        return candidates[: candidates.index(-1)] if -1 in candidates else candidates

    def _verify(self, window: Window) -> Iterator[TokenEvent]:
        """Decode `window` in one batch and emit its candidates up to the first one refused;
        roll the refused tail back and write the model's own token there."""
        fed, quoting = window.fed, window.quoting
        base = self.decoder.n_tokens
        rows = self.decoder.feed(fed, all_logits=True, phase="verify")  # row i: after fed[i]
        self.c.windows += 1
        j, top = 1, -1
        while j < len(fed):
            top = self.s.choose(rows[j - 1], fed[j])
            if quoting:
                if fed[j] != top:
                    break
                yield self._rewritten(fed[j], decision_margin(rows[j - 1], top), quoted=True)
            else:
                if not self._holds(rows[j - 1], top, window.next_old):
                    break
                yield self._held(fed[j], window.next_old, decision_margin(rows[j - 1], fed[j]))
                window.next_old += 1
            j += 1
        sizes = self.s.quote_windows if quoting and self.s.quote_windows else self.windows
        if j == len(fed):
            sizes.observe(len(fed) - 1, rejected=False)
            self.logits = np.array(rows[len(fed) - 1], copy=True)
            if not quoting:
                self.p = window.next_old
                self.watermark = max(self.watermark, self.p)
            return
        self.c.divergences += not quoting
        sizes.observe(j - 1, rejected=True)
        self.decoder.truncate(base + j)
        self.c.rollbacks += 1
        if not quoting:
            self.watermark = max(self.watermark, window.next_old)
        self.p = None
        self.done = top in self.ctx.eog
        if self.done or self.emitted >= self.s.max_tokens:
            return
        yield self._rewritten(top, decision_margin(rows[j - 1], top))
        self.pending = top

    # -- bookkeeping of emitted tokens

    def _remember(self, token: int) -> None:
        self.after_blank = self.s.is_blank(token)
        if not self.after_blank:
            self.recent.append(token)
        if self.ctx.opens_or_closes(token):
            self.block_open = not self.block_open
        self.emitted += 1

    def _rewritten(self, token: int, margin: float, *, quoted: bool = False) -> TokenEvent:
        self.c.rewritten += 1
        self.c.quoted += quoted
        self._remember(token)
        return TokenEvent(REWRITTEN, token, self.emitted - 1, margin=margin)

    def _held(self, token: int, old_index: int, margin: float) -> TokenEvent:
        self.c.held += 1
        self._remember(token)
        return TokenEvent(HELD, token, self.emitted - 1, old_index, margin=margin)


def replay(
    decoder: Decoder, next_logits: np.ndarray, draft: Sequence[int], ctx: EditContext,
    windows: WindowPolicy, settings: ReplaySettings, counters: Stats | None = None,
) -> Iterator[TokenEvent]:
    """Yield the answer's tokens, replaying `draft` after a prompt whose next-token logits are
    `next_logits` (see `Replay`); `counters` receives held, rewritten and quoted tokens,
    divergences, windows, rollbacks and re-anchors."""
    return Replay(decoder, next_logits, draft, ctx, windows, settings, counters).events()
