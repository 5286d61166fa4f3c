"""The public `Engine`: fresh greedy answers and redrafts of old answers, in process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from .cost_probe import load_or_measure
from .guards import Edit
from .kv_session import KVSession
from .llama_model import LlamaModel
from .model_source import check_gguf, fingerprint, resolve_model_path
from .replay import ReplayCounters, replay
from .result import Message, Result, Stream, message_text
from .rules import AcceptanceRule, ExactRule, rule_by_name
from .spans import TokenEvent, build_spans, with_text
from .stats import Stats, Timings
from .window import DEFAULT_COST, WindowPolicy

Prompt = str | Sequence[Message]
OnEvent = Callable[[TokenEvent], None]


def as_messages(prompt: Prompt) -> list[Message]:
    """A user-message string becomes one user message; a message list is copied."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = [dict(m) for m in prompt]
    for m in messages:
        if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError("each chat message needs string 'role' and 'content' keys")
    return messages


class Engine:
    """An embedded llama.cpp model that answers prompts and redrafts old answers.

    >>> engine = Engine()                       # bundled SmolLM2-135M-Instruct
    >>> old = engine.generate("Summarize: ...")
    >>> new = engine.redraft("Summarize: ... (edited)", old)
    >>> new.text, new.spans, new.stats.held_fraction

    Model resolution: `model_path`, else $REDRAFT_MODEL, else the bundled model. The KV cache of
    the last prompt and answer is kept between calls, so a call whose prompt shares a prefix
    with the previous one recomputes only the rest. Decoding is greedy (temperature 0).

    window: a fixed verification window size; by default it follows a cost model measured once
        for this model on this machine (cached under `cache_dir`) and the observed acceptance.
    rollback: "auto" drops rejected tails from the KV cache and falls back to snapshots where
        the memory cannot; "snapshot" forces the snapshot path.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 256,
        window: int | None = None,
        max_window: int = 128,
        anchor_n: int = 3,
        cache_dir: str | os.PathLike[str] | None = None,
        rollback: str = "auto",
    ):
        if window is not None and window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if anchor_n < 1:
            raise ValueError(f"anchor_n must be at least 1, got {anchor_n}")
        path = resolve_model_path(model_path)
        check_gguf(path)
        self.model_path = path
        self.fingerprint = fingerprint(path)
        self.model = LlamaModel(path)
        n_ctx = min(n_ctx, self.model.n_ctx_train) if self.model.n_ctx_train > 0 else n_ctx
        self.session = KVSession(self.model, n_ctx=n_ctx, n_threads=n_threads, rollback=rollback)
        self.max_tokens = max_tokens
        self.max_window = min(max_window, self.session.n_batch)
        self.window = None if window is None else min(window, self.max_window)
        self.anchor_n = anchor_n
        self._streaming = False
        self.cost = DEFAULT_COST
        if window is None:
            threads = n_threads or os.cpu_count() or 1
            key = f"{self.fingerprint}-t{threads}-b{self.session.n_batch}-c{self.session.n_ctx}"
            cache = Path(cache_dir) if cache_dir is not None else None
            self.cost = load_or_measure(self.session, key, cache)

    @property
    def n_ctx(self) -> int:
        return self.session.n_ctx

    def reset(self) -> None:
        """Empty the KV cache: the next call recomputes its whole prompt (a cold start)."""
        self.session.clear()

    def close(self) -> None:
        """Free the context and the model (also done when the process exits)."""
        self.session.close()
        self.model.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The token ids of `prompt` as rendered with the model's chat template."""
        return self.model.tokenize(self.model.render_chat(as_messages(prompt)), special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text))

    def generate(
        self, prompt: Prompt, *, max_tokens: int | None = None, on_event: OnEvent | None = None
    ) -> Result:
        """A fresh greedy answer to `prompt` (reusing the cached KV prefix)."""
        return self._drive(self.stream_generate(prompt, max_tokens=max_tokens), on_event)

    def redraft(
        self,
        new_prompt: Prompt,
        old: Result | str,
        *,
        rule: str | AcceptanceRule = "tolerant",
        old_prompt: Prompt | None = None,
        max_tokens: int | None = None,
        on_event: OnEvent | None = None,
    ) -> Result:
        """The answer to `new_prompt`, replaying `old` (a previous result or its text) as a draft.

        `rule` is "tolerant" (default), "exact" or an `AcceptanceRule`. The edit-aware guards
        compare the old prompt with the new one: it is taken from `old` when `old` is a Result,
        or from `old_prompt`; without either, only the digit and copy guards apply.
        """
        stream = self.stream_redraft(
            new_prompt, old, rule=rule, old_prompt=old_prompt, max_tokens=max_tokens
        )
        return self._drive(stream, on_event)

    def stream_generate(self, prompt: Prompt, *, max_tokens: int | None = None) -> Stream:
        """Like `generate`, as a `Stream` of token events."""
        answer = self._run(as_messages(prompt), [], ExactRule(), None, max_tokens)
        return Stream(self._exclusive(answer))

    def stream_redraft(
        self,
        new_prompt: Prompt,
        old: Result | str,
        *,
        rule: str | AcceptanceRule = "tolerant",
        old_prompt: Prompt | None = None,
        max_tokens: int | None = None,
    ) -> Stream:
        """Like `redraft`, as a `Stream` of token events."""
        if isinstance(old, Result):
            draft = list(old.tokens)
            old_messages: list[Message] | None = old.messages or None
        else:
            draft = self.model.tokenize(old)
            old_messages = None
        if old_prompt is not None:
            old_messages = as_messages(old_prompt)
        chosen = rule_by_name(rule) if isinstance(rule, str) else rule
        answer = self._run(as_messages(new_prompt), draft, chosen, old_messages, max_tokens)
        return Stream(self._exclusive(answer))

    @staticmethod
    def _drive(stream: Stream, on_event: OnEvent | None) -> Result:
        for event in stream:
            if on_event is not None:
                on_event(event)
        assert stream.result is not None
        return stream.result

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
            return (yield from answer)
        finally:
            self._streaming = False

    def _run(
        self,
        messages: list[Message],
        draft: list[int],
        rule: AcceptanceRule,
        old_messages: list[Message] | None,
        max_tokens: int | None,
    ) -> Generator[TokenEvent, None, Result]:
        t_start = time.perf_counter()
        session = self.session
        session.timings = Timings()
        prompt = self.model.tokenize(self.model.render_chat(messages), special=True)
        next_logits, reused = session.prefill(prompt)
        wanted = self.max_tokens if max_tokens is None else max_tokens
        limit = min(wanted, session.n_ctx - len(prompt) - 1)
        pieces = self.model.text_pieces(draft)
        edit = Edit(
            old_prompt=None if old_messages is None else message_text(old_messages),
            new_prompt=message_text(messages),
            draft_pieces=pieces,
            tokenize=self.model.tokenize,
            eog=self.model.eog,
        )
        ctx = rule.prepare(edit) if draft else ExactRule().prepare(edit)
        policy = WindowPolicy(self.cost, max_size=self.max_window, fixed=self.window)
        counters = ReplayCounters()
        events: list[TokenEvent] = []
        for event in replay(
            session, next_logits, draft, rule, ctx, policy,
            max_tokens=max(limit, 0), anchor_n=self.anchor_n, counters=counters,
        ):
            events.append(event)
            yield event
        tokens = [e.token for e in events]
        text_pieces = self.model.text_pieces(tokens)
        wall = time.perf_counter() - t_start
        timings = session.timings
        timings.other = max(0.0, wall - timings.decode)
        stats = Stats(
            prompt_tokens=len(prompt),
            prompt_reused=reused,
            prompt_recomputed=len(prompt) - reused,
            emitted=len(tokens),
            held=counters.held,
            rewritten=counters.rewritten,
            divergences=counters.divergences,
            windows=counters.windows,
            rollbacks=counters.rollbacks,
            reanchors=counters.reanchors,
            wall_s=wall,
            time=timings,
        )
        return Result(
            text="".join(text_pieces),
            tokens=tokens,
            spans=with_text(build_spans(events), text_pieces),
            stats=stats,
            messages=messages,
            rule=rule.name if draft else None,
        )

    def export_state(self) -> tuple[list[int], bytes]:
        """The cached tokens and KV state, to persist and `import_state` in another process."""
        return self.session.export_state()

    def import_state(self, tokens: Sequence[int], data: bytes) -> bool:
        """Restore a state from `export_state`; False (and an empty cache) if it did not load."""
        return self.session.import_state(tokens, data)
