"""The public `Engine`: fresh greedy answers and redrafts of old answers, in process.

Its load-time setup (model, device, calibration) is in loading.py; the decoding of one answer
(answering.py) and watch's confirmation (confirmation.py) are mixins of `Engine`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .answering import Answering, StopCheck
from .confirmation import Confirmation
from .defaults import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_N_CTX,
    DEFAULT_START_PROBATION,
    PROMPT_REUSE_MODES,
)
from .devices import AUTO, layer_count, parse_flash_attn, parse_gpu_layers
from .errors import InvalidTokenError
from .kv_session import KVSession
from .loading import calibrate, calibration_key, load_model
from .messages import Prompt, as_messages
from .model_source import ENV_VAR, ModelFile
from .result import Draft, Result, Stream
from .rules import AcceptanceRule, ExactRule, rule_by_name
from .sampling import Sampling
from .spans import TokenEvent

OnEvent = Callable[[TokenEvent], None]


class Engine(Answering, Confirmation):
    """An embedded llama.cpp model that answers prompts and redrafts old answers.

    >>> engine = Engine()                       # bundled SmolLM2-135M-Instruct
    >>> old = engine.generate("Summarize: ...")
    >>> new = engine.redraft("Summarize: ... (edited)", old)
    >>> new.text, new.spans, new.stats.held_fraction

    model: a GGUF path or a `ModelFile`; when None, $REDRAFT_MODEL, else the bundled model.
    The KV cache of the last prompt and answer is kept between calls, so a call whose prompt
    shares a prefix with the previous one recomputes only the rest. Decoding is greedy.

    window: a fixed verification window size; by default it follows a cost table measured once
    for this model on this machine (kept in `calibration_dir`, by default the user's cache
    folder) and the observed acceptance.
    noise: the logit noise within which a guarded decision counts as a near-tie (see
    `rules.TolerantRule`); by default measured once for this model on this machine and kept in
    `calibration_dir` (the whole measurement is `noise_estimate`). 0 turns the near-tie rule
    off.
    start_probation: how many answer tokens from the start form the answer's opening, held as
    policy.py's table says for the opening.
    prompt_reuse: "exact" reuses the KV cache up to the first changed prompt token; "blend"
    also keeps the KV of the unchanged text after an edit, moved to its new position, and
    decodes only the edited spans, a few tokens after each and the prompt's tail (see
    blend_plan.py). Shifted KV is approximate: `Result.stats` counts it, and it is decoded
    again by the next blend. Blend falls back to exact where the memory cannot shift.
    rollback: "auto" drops rejected tails from the KV cache and falls back to snapshots where
    the memory cannot; "snapshot" forces the snapshot path.
    decode_lock: a file that engines of every process on this machine lock while they answer,
    so that two processes take turns instead of starving each other (see decode_lock.py).
    gpu_layers: model layers offloaded to a GPU: a count, "all", or "auto" (all where the
    installed llama.cpp has a GPU backend, else 0). `backend`, `gpu_layers` and `n_layers` then
    say where the model runs. flash_attn: "auto" (llama.cpp decides per backend), "on", "off".
    Calibration files are kept per device, so GPU and CPU runs never share measurements.
    on_calibrate: called with a short description before each measurement of this machine
    that has no saved result yet (the first load of a model on a CPU takes seconds more);
    `calibration_s` then says how long measuring took (0.0 when everything was saved).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | ModelFile | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        window: int | None = None,
        max_window: int = 128,
        anchor_n: int = 3,
        start_probation: int = DEFAULT_START_PROBATION,
        noise: float | None = None,
        prompt_reuse: str = "exact",
        calibration_dir: str | os.PathLike[str] | None = None,
        rollback: str = "auto",
        decode_lock: str | os.PathLike[str] | None = None,
        on_calibrate: Callable[[str], None] | None = None,
        gpu_layers: int | str = AUTO,
        flash_attn: str = AUTO,
    ):
        if window is not None and window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if anchor_n < 1:
            raise ValueError(f"anchor_n must be at least 1, got {anchor_n}")
        if start_probation < 1:
            raise ValueError(f"start_probation must be at least 1, got {start_probation}")
        if noise is not None and not noise >= 0:
            raise ValueError(f"noise must be a logit gap of at least 0, got {noise}")
        if prompt_reuse not in PROMPT_REUSE_MODES:
            raise ValueError(f"prompt_reuse must be one of {', '.join(PROMPT_REUSE_MODES)}, "
                             f"got {prompt_reuse!r}")
        gpu_layers = parse_gpu_layers(gpu_layers)
        flash_attn = parse_flash_attn(flash_attn)
        if not isinstance(model, ModelFile):
            model = ModelFile.open(model or os.environ.get(ENV_VAR) or None)
        self.model_file = model
        self.devices, self.model, self.gpu_layers, self.backend = load_model(model, gpu_layers)
        self.n_layers = layer_count(self.model.n_layer)
        self.flash_attn = flash_attn
        n_ctx = min(n_ctx, self.model.n_ctx_train) if self.model.n_ctx_train > 0 else n_ctx
        self.session = KVSession(self.model, n_ctx=n_ctx, n_threads=n_threads, rollback=rollback,
                                 flash_attn=flash_attn)
        self.max_tokens = max_tokens
        self.max_window = min(max_window, self.session.n_batch - 1)  # + the token it rides on
        self.window = None if window is None else min(window, self.max_window)
        self.anchor_n = anchor_n
        self.start_probation = start_probation
        self.prompt_reuse = prompt_reuse
        self.decode_lock = None if decode_lock is None else Path(decode_lock)
        self._streaming = False
        key = calibration_key(model, self.session, self.devices, self.gpu_layers, flash_attn)
        self.cost, self.noise_estimate, self.calibration_s = calibrate(
            self.session, key, calibration_dir, window=window, noise=noise,
            on_calibrate=on_calibrate)
        self.noise = noise if noise is not None else (
            self.noise_estimate.noise if self.noise_estimate else 0.0)

    @property
    def model_path(self) -> Path:
        return self.model_file.path

    @property
    def fingerprint(self) -> str:
        return self.model_file.fingerprint

    @property
    def n_ctx(self) -> int:
        return self.session.n_ctx

    def reset(self) -> None:
        """Empty the KV cache: the next call recomputes its whole prompt (a cold start)."""
        self.session.clear()

    def close(self) -> None:
        """Free the context and the model (also done when the process exits)."""
        try:
            self.session.close()
        finally:
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
        return self.stream_generate(prompt, max_tokens=max_tokens).run(on_event)

    def redraft(
        self,
        new_prompt: Prompt,
        old: Result | Draft | str,
        *,
        rule: str | AcceptanceRule = "tolerant",
        max_tokens: int | None = None,
        on_event: OnEvent | None = None,
    ) -> Result:
        """The answer to `new_prompt`, replaying `old` as a draft.

        `old` is a previous Result, a `Draft` (stored tokens and the prompt they answered) or
        plain answer text. `rule` is "tolerant" (default), "exact" or an `AcceptanceRule`.
        The edit-aware guards compare the old prompt with the new one when the old prompt is
        known (a Result, or a Draft with a prompt); otherwise only the digit and copy guards
        apply.
        """
        stream = self.stream_redraft(new_prompt, old, rule=rule, max_tokens=max_tokens)
        return stream.run(on_event)

    def stream_generate(
        self, prompt: Prompt, *, max_tokens: int | None = None,
        should_stop: StopCheck | None = None, sampling: Sampling | None = None,
    ) -> Stream:
        """Like `generate`, as a `Stream` of token events.

        `should_stop` is asked while the prompt is decoded (every few milliseconds); once it
        says True, iterating the stream raises `Stopped`. Between events the caller decides
        itself: it stops by closing the stream. `sampling` samples instead of decoding
        greedily (None, or a temperature of 0: greedy)."""
        answer = self._run(as_messages(prompt), Draft(()), ExactRule(), max_tokens,
                           should_stop=should_stop, sampling=sampling)
        return Stream(self._exclusive(answer))

    def stream_redraft(
        self,
        new_prompt: Prompt,
        old: Result | Draft | str,
        *,
        rule: str | AcceptanceRule = "tolerant",
        max_tokens: int | None = None,
        should_stop: StopCheck | None = None,
        sampling: Sampling | None = None,
    ) -> Stream:
        """Like `redraft`, as a `Stream` of token events (`should_stop`: as in
        `stream_generate`). A draft whose token ids lie outside this model's vocabulary is
        refused here with `InvalidTokenError`, before anything is decoded.

        With `sampling` at a temperature above 0, the answer is sampled and stays distributed
        exactly as a sampled answer without the draft would be: each draft token is held with
        its probability under the model, and `rule` is not used (see sampling.py)."""
        if isinstance(old, Result):
            draft = old.draft
        elif isinstance(old, Draft):
            draft = old
        else:
            draft = Draft(self.model.tokenize(old))
        self._check_tokens("the draft", draft.tokens)
        chosen = rule_by_name(rule) if isinstance(rule, str) else rule
        if sampling is not None and not sampling.greedy:
            chosen = ExactRule()
        answer = self._run(as_messages(new_prompt), draft, chosen, max_tokens,
                           should_stop=should_stop, sampling=sampling)
        return Stream(self._exclusive(answer))

    def _check_tokens(self, what: str, tokens: Sequence[int]) -> None:
        bad = self.model.invalid_tokens(tokens)
        if bad:
            raise InvalidTokenError(what, bad, self.model.n_vocab)

    def export_state(self) -> tuple[list[int], bytes]:
        """The cached tokens and KV state, to persist and `import_state` in another process.
        Persist `approximate_ranges` with them."""
        return self.session.export_state()

    @property
    def approximate_ranges(self) -> tuple[tuple[int, int], ...]:
        """The cached token ranges [start, end) whose KV a blend reused at a new position."""
        return self.session.approximate

    def import_state(
        self, tokens: Sequence[int], data: bytes, approximate: Sequence[tuple[int, int]] = ()
    ) -> bool:
        """Restore a state from `export_state` with the `approximate_ranges` it had; False
        (and an empty cache) if it did not load."""
        return self.session.import_state(tokens, data, approximate)
