"""The replay / re-anchor state machine.

Walks an old answer as a draft under a new prompt: verify windows of draft tokens in one batched
decode, hold tokens the rule accepts, emit the fresh argmax at the first rejection, roll the
rejected tail back, decode serially, and re-anchor into the old answer after each rewritten
token by matching the last few emitted tokens, resuming past a watermark. With an empty draft it
is plain greedy decoding.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from .guards import EditContext
from .rules import AcceptanceRule
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
        self, recent: Sequence[int], watermark: int, *, after_blank: bool = False
    ) -> int | None:
        """Draft index right after the first match that resumes past `watermark`, if any.

        `recent` holds the last n non-blank emitted tokens; `after_blank` says that blank
        tokens were emitted after them, so the draft's own blanks there are skipped too.
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
                return after if after < len(self.draft) else None
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
    probation: int = 0,
    start_probation: int = 1,
    prompt: Sequence[int] = (),
    quote_policy: WindowPolicy | None = None,
    counters: Stats | None = None,
    is_blank: Callable[[int], bool] = lambda t: False,
    choose: Chooser = greedy,
) -> Iterator[TokenEvent]:
    """Yield the emitted tokens of the answer, each `held` (from the draft) or `rewritten`.

    `next_logits` is the distribution after the prompt. `counters` receives the counts of
    held, rewritten and quoted tokens, divergences, windows, rollbacks and re-anchors.
    Generation stops at an end-of-generation argmax or after `max_tokens` tokens. The decoder's
    cache ends holding prompt and answer (the last emitted token may be left undecoded when
    `max_tokens` is reached).

    A rewritten token (a correction or a serial token) is decoded together with the next
    window when the old answer offers a re-anchor or, failing that, when the last emitted
    tokens occur in `prompt` and its continuation can be drafted (a quote). Quotes are not the
    old answer: they are held only on exact match and count as rewritten (and quoted).
    The first `start_probation` answer tokens are held by the rule when the edit changed no word
    of the prompt (`ctx.words_kept`), else on exact match, or as a near-tie when the edit
    inserted no content (`ctx.inserted` empty); the first `probation` tokens after each
    re-anchor are `strict` for the rule: tolerance is earned by agreeing with the model again
    first. Re-anchors and quotes match on the non-blank tokens (`is_blank`: whitespace-only
    pieces).
    `choose(row, draft_token)` is the model's own token at a position (the argmax by default;
    see sampling.py for lossless sampling, with which only exact matches are held).
    """
    if start_probation < 1:
        raise ValueError(f"start_probation must be at least 1, got {start_probation}")
    c = counters if counters is not None else Stats()
    anchors = AnchorIndex(draft, anchor_n, is_blank)
    source = quotable(prompt, ctx.eog) if draft and quote_policy is not None else []
    quotes = AnchorIndex(source, anchor_n, lambda t: t >= 0 and is_blank(t)) if source else None
    recent: deque[int] = deque(maxlen=anchor_n)  # the last non-blank emitted tokens
    after_blank = False
    logits = np.array(next_logits, copy=True)
    pending: int | None = None  # emitted, not decoded yet
    emitted = 0
    p: int | None = 0 if draft else None
    watermark = 0
    strict_left = 0

    def remember(token: int) -> None:
        nonlocal after_blank, emitted
        after_blank = is_blank(token)
        if not after_blank:
            recent.append(token)
        emitted += 1

    def rewritten(token: int, margin: float, *, quoted: bool = False) -> TokenEvent:
        c.rewritten += 1
        c.quoted += quoted
        remember(token)
        return TokenEvent(REWRITTEN, token, emitted - 1, margin=margin)

    def held(token: int, old_index: int, margin: float) -> TokenEvent:
        nonlocal strict_left
        c.held += 1
        strict_left = max(0, strict_left - 1)
        remember(token)
        return TokenEvent(HELD, token, emitted - 1, old_index, margin=margin)

    def accept_old(row: np.ndarray, top: int, old_index: int) -> bool:
        if emitted < start_probation and not ctx.words_kept:
            # The opening tokens pick the answer's whole path; a coin flip there can keep an old
            # answer that never reaches what the edit inserted. Hold them as near-ties only when
            # the edit inserted no content, or when the draft's opening was decided under the
            # edit already (an edit that changed no word leaves them to the rule's band, below).
            if draft[old_index] == top:
                return True
            if ctx.opening_exact:
                return False
            return (not ctx.inserted or ctx.opening_after_edit) and rule.accept(
                row, top, draft[old_index], old_index, ctx, strict=True)
        return rule.accept(row, top, draft[old_index], old_index, ctx, strict=strict_left > 0)

    while emitted < max_tokens:
        if p is not None and p >= len(draft):
            p = None
        quoting = False
        if pending is None:
            top = choose(logits, draft[p] if p is not None else None)
            if p is not None and not accept_old(logits, top, p):
                c.divergences += 1
                policy.observe(0, rejected=True)
                watermark = max(watermark, p)
                p = None
            if p is None:
                if top in ctx.eog:
                    return
                yield rewritten(top, decision_margin(logits, top))
                pending = top
                continue
            assert p is not None
            size = min(policy.next_size(), len(draft) - p, max_tokens - emitted)
            fed = list(draft[p : p + size])
            yield held(fed[0], p, decision_margin(logits, fed[0]))
            next_old = p + 1
        else:
            resume = (anchors.resume_at(list(recent), watermark, after_blank=after_blank)
                      if draft else None)
            if resume is not None:
                c.reanchors += 1
                p = watermark = next_old = resume
                strict_left = probation
                size = policy.next_size(first_checked=False)
                candidates = draft[p : p + size]
            elif quotes is not None and quote_policy is not None:
                quote_at = quotes.resume_at(list(recent), 0, after_blank=after_blank)
                size = 0 if quote_at is None else quote_policy.next_size(first_checked=False)
                candidates = [] if quote_at is None else source[quote_at : quote_at + size]
                if -1 in candidates:
                    candidates = candidates[: list(candidates).index(-1)]
                quoting = bool(candidates)
                next_old = -1
            else:
                candidates = []
            candidates = list(candidates)[: max_tokens - emitted]
            if not candidates:
                logits = np.array(decoder.feed([pending], all_logits=False, phase="serial")[0])
                pending = None
                continue
            fed = [pending, *candidates]
            pending = None
        # Verify fed[1:]: row i of the window is the distribution for fed[i + 1].
        base = decoder.n_tokens
        rows = decoder.feed(fed, all_logits=True, phase="verify")
        c.windows += 1
        j = 1
        while j < len(fed):
            top = choose(rows[j - 1], fed[j])
            if quoting:
                if fed[j] != top:
                    break
                yield rewritten(fed[j], decision_margin(rows[j - 1], top), quoted=True)
            else:
                if not accept_old(rows[j - 1], top, next_old):
                    break
                yield held(fed[j], next_old, decision_margin(rows[j - 1], fed[j]))
                next_old += 1
            j += 1
        window_policy = quote_policy if quoting and quote_policy is not None else policy
        if j == len(fed):
            window_policy.observe(len(fed) - 1, rejected=False)
            logits = np.array(rows[len(fed) - 1], copy=True)
            if not quoting:
                p = next_old
                watermark = max(watermark, p)
            continue
        c.divergences += not quoting
        window_policy.observe(j - 1, rejected=True)
        correction = top  # the model's own choice where the window's draft was refused
        decoder.truncate(base + j)
        c.rollbacks += 1
        if not quoting:
            watermark = max(watermark, next_old)
        p = None
        if correction in ctx.eog or emitted >= max_tokens:
            return
        yield rewritten(correction, decision_margin(rows[j - 1], correction))
        pending = correction
