"""One answer of `Engine`, decoded: the prompt rendered and prefilled (exact or blended reuse),
the edit context the policy holds tokens by, the replay of the draft, and the events' text,
spans and stats; and one stream at a time per engine, taking turns under the decode lock."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import TYPE_CHECKING

from .decode_lock import decode_turn
from .defaults import BLEND_BRIDGE, BLEND_DRIFT_BUDGET, BLEND_MIN_KEEP, BLEND_TAIL
from .guards import Edit
from .messages import Message, as_messages, message_text
from .policy import EditContext, Place
from .replay import ReplaySettings, replay
from .result import Draft, Result
from .rules import AcceptanceRule
from .sampling import Sampling, greedy
from .spans import SpanBuilder, TokenEvent
from .stats import Stats, Timings
from .window import WindowPolicy

if TYPE_CHECKING:
    from pathlib import Path

    from .kv_session import KVSession
    from .llama_model import LlamaModel
    from .window import CostModel

StopCheck = Callable[[], bool]
QUOTE_PRIOR = 0.6  # prompt quotes start with small windows until they prove themselves


class Answering:
    """The decoding half of `Engine` (a mixin: it uses the engine's model, session and
    settings)."""

    model: LlamaModel
    session: KVSession
    max_tokens: int
    max_window: int
    window: int | None
    anchor_n: int
    start_probation: int
    prompt_reuse: str
    decode_lock: Path | None
    cost: CostModel
    noise: float
    _streaming: bool

    def _exclusive(
        self, answer: Generator[TokenEvent, None, Result]
    ) -> Generator[TokenEvent, None, Result]:
        """Run `answer` unless another stream of this engine is open: two interleaved streams
        would decode into one KV cache and corrupt each other."""
        if self._streaming:
            answer.close()
            raise RuntimeError(
                "this Engine is already streaming an answer; finish or close() that stream first"
            )
        self._streaming = True
        try:
            with decode_turn(self.decode_lock):
                return (yield from answer)
        finally:
            self._streaming = False

    def _edit_context(
        self, messages: list[Message], draft: Draft, rule: AcceptanceRule, limit: int,
        opening: Place,
    ) -> EditContext:
        if not draft.tokens:
            return EditContext(eog=self.model.eog)
        old_text = None if draft.prompt is None else message_text(as_messages(draft.prompt))
        ctx = rule.prepare(Edit(
            old_prompt=old_text,
            new_prompt=message_text(messages),
            draft_pieces=self.model.text_pieces(draft.tokens),
            tokenize=self.model.tokenize,
            eog=self.model.eog,
            fences=self.model.fence_tokens,
            cut=len(draft.tokens) >= limit,
            ended=draft.ended and len(draft.tokens) < limit,
        ))
        return replace(ctx, old_margins=tuple(draft.margins or ()), noise=self.noise,
                       opening=opening, opening_tokens=self.start_probation)

    def _run(
        self, messages: list[Message], draft: Draft, rule: AcceptanceRule, max_tokens: int | None,
        *, reuse: str | None = None, opening: Place = Place.OPENING,
        should_stop: StopCheck | None = None, sampling: Sampling | None = None,
    ) -> Generator[TokenEvent, None, Result]:
        t_start = time.perf_counter()
        session = self.session
        session.timings = Timings()
        prompt = self.model.tokenize(self.model.render_chat(messages), special=True)
        shifted, fallback = 0, None
        with session.stoppable(should_stop):
            if (reuse or self.prompt_reuse) == "blend":
                next_logits, reused, shifted, fallback = session.prefill_blend(
                    prompt, bridge=BLEND_BRIDGE, tail=BLEND_TAIL, min_keep=BLEND_MIN_KEEP,
                    budget=BLEND_DRIFT_BUDGET)
            else:
                next_logits, reused = session.prefill(prompt)
        wanted = self.max_tokens if max_tokens is None else max_tokens
        limit = max(0, min(wanted, session.n_ctx - len(prompt) - 1))
        ctx = self._edit_context(messages, draft, rule, limit, opening)
        windows = WindowPolicy(self.cost, max_size=self.max_window, fixed=self.window)
        settings = ReplaySettings(
            max_tokens=limit, anchor_n=self.anchor_n, prompt=prompt,
            quote_windows=WindowPolicy(self.cost, max_size=self.max_window, fixed=self.window,
                                       prior=QUOTE_PRIOR),
            is_blank=self.model.is_blank,
            choose=greedy if sampling is None else sampling.chooser())
        stats = Stats(prompt_tokens=len(prompt), prompt_reused=reused, prompt_shifted=shifted,
                      blend_fallback=fallback or "")
        decoder = self.model.text_decoder()
        spans = SpanBuilder()
        tokens: list[int] = []
        margins: list[float] = []
        for event in replay(session, next_logits, list(draft.tokens), ctx, windows, settings,
                            stats):
            event = replace(event, text=decoder.piece(event.token))
            if spans.add(event):
                event = replace(event, starts_span=True)
            if not tokens:
                stats.first_token_s = time.perf_counter() - t_start
            tokens.append(event.token)
            margins.append(event.margin if event.margin is not None else float("nan"))
            yield event
        spans.append_text(decoder.flush())
        wall = time.perf_counter() - t_start
        timings = session.timings
        timings.other = max(0.0, wall - timings.decode)
        stats.prompt_recomputed = timings.prefill_tokens
        stats.emitted = len(tokens)
        stats.truncated = limit < wanted and len(tokens) >= limit
        stats.wall_s = wall
        stats.time = timings
        final_spans = spans.result()
        return Result(
            text="".join(s.text for s in final_spans), tokens=tokens, spans=final_spans,
            stats=stats, messages=messages, rule=rule.name if draft.tokens else None,
            margins=margins,
        )
