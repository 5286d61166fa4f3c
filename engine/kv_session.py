"""One llama.cpp context: batched decodes, zero-copy logits, prefix reuse and tail rollback.

Its serialized states (rollback snapshots, export and import) are in kv_state.py and its stop
checks in kv_stop.py, mixins of `KVSession`; a blended prefill's moves are in kv_blend.py.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from .blend_plan import Span, approximate_share, plan_blend
from .defaults import DEFAULT_N_CTX
from .devices import FLASH_ATTN
from .errors import EngineError, PromptTooLongError, Stopped
from .interrupts import deferred_interrupts
from .kv_blend import GUARD, SCRATCH, SEQ, apply_plan
from .kv_state import SessionState
from .kv_stop import StopChecks
from .llama_backend import lib
from .llama_model import LlamaModel
from .prefix import shared_prefix
from .stats import Timings

_DECODE_ERRORS = {1: "no free KV cache slot (the context is full)", 2: "decode aborted"}


class KVSession(SessionState, StopChecks):
    """Implements the replay `Decoder` over a llama.cpp context holding one sequence.

    `tokens` mirrors what the KV cache holds. Rolling back a tail uses `llama_memory_seq_rm`;
    where the memory cannot drop a tail (recurrent/hybrid models: it returns False) or
    `rollback="snapshot"` is forced, the state after the prompt is snapshotted once per call and a
    rollback restores it and re-decodes the kept answer tokens.
    """

    def __init__(
        self,
        model: LlamaModel,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_batch: int = 512,
        n_threads: int | None = None,
        rollback: str = "auto",
        flash_attn: str = "auto",
    ):
        if rollback not in ("auto", "snapshot"):
            raise ValueError("rollback must be 'auto' or 'snapshot'")
        L = lib()
        threads = self.n_threads = n_threads or os.cpu_count() or 1
        params = L.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        # A blended prefill decodes edited spans in a scratch sequence that shares the cells of
        # sequence 0, and a guard sequence keeps a sliding-window cache from reusing cells it
        # still needs (kv_blend.py): three sequences over one unified cache of n_ctx cells.
        params.n_seq_max = 3
        params.kv_unified = True
        params.n_threads = threads
        params.n_threads_batch = threads
        # Sliding-window caches prune old positions, so a rolled-back tail could leave the cache
        # short of what a clean decode sees; the full-size SWA cache keeps rollback exact.
        params.swa_full = model.n_swa > 0
        params.flash_attn_type = FLASH_ATTN[flash_attn]
        with deferred_interrupts():
            ctx = L.llama_init_from_model(model.ptr, params)
        if not ctx:
            raise EngineError(f"llama.cpp could not create a context of {n_ctx} tokens")
        self.model = model
        self.ctx = ctx
        self.n_ctx = int(L.llama_n_ctx(ctx))
        self.n_batch = n_batch
        self.mem = L.llama_get_memory(ctx)
        self.tokens: list[int] = []
        self.approximate: tuple[Span, ...] = ()  # cached ranges whose KV a blend shifted
        self.timings = Timings()
        self.snapshot_mode = rollback == "snapshot" or model.recurrent
        self._snapshot: tuple[ctypes.Array, int] | None = None
        self.snapshot_restores = 0
        self._batch = L.llama_batch_init(n_batch, 0, 1)
        cap = n_batch
        self._tok = np.ctypeslib.as_array(self._batch.token, shape=(cap,))
        self._pos = np.ctypeslib.as_array(self._batch.pos, shape=(cap,))
        self._want = np.ctypeslib.as_array(
            ctypes.cast(self._batch.logits, ctypes.POINTER(ctypes.c_int8)), shape=(cap,)
        )
        np.ctypeslib.as_array(self._batch.n_seq_id, shape=(cap,))[:] = 1
        for i in range(cap):
            self._batch.seq_id[i][0] = SEQ
        self._slots_seq = SEQ
        self._init_stop_checks()

    def close(self) -> None:
        L = lib()
        if self.ctx:
            ctx, self.ctx = self.ctx, None
            with deferred_interrupts():
                L.llama_batch_free(self._batch)
                L.llama_free(ctx)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def _decode(
        self, tokens: Sequence[int], want: str, phase: str, *, seq: int = SEQ,
        start: int | None = None,
    ) -> int:
        """Decode one batch of at most n_batch tokens into `seq` at positions from `start`
        (default: after the cached tokens); return the number of logits rows."""
        n = len(tokens)
        if start is None:
            start = len(self.tokens)
        if start + n > self.n_ctx:
            raise PromptTooLongError(start + n, self.n_ctx)
        self._tok[:n] = tokens
        self._pos[:n] = np.arange(start, start + n)
        self._want[:n] = 1 if want == "all" else 0
        if want == "last":
            self._want[n - 1] = 1
        if seq != self._slots_seq:
            for i in range(self.n_batch):
                self._batch.seq_id[i][0] = seq
            self._slots_seq = seq
        self._batch.n_tokens = n
        t0 = time.perf_counter()
        with deferred_interrupts():  # Ctrl-C is raised on leaving, after the bookkeeping
            rc = lib().llama_decode(self.ctx, self._batch)
            self.timings.add(phase, time.perf_counter() - t0, n)
            if rc != 0:
                # A failed decode may have left part of the batch in the cache: drop it.
                lib().llama_memory_seq_rm(self.mem, seq, start, -1)
                if rc == 2 and self._stop_error is not None:
                    error, self._stop_error = self._stop_error, None
                    raise error
                if rc == 2 and self._stop_asked:
                    raise Stopped("stopped on request before the prompt was decoded")
                reason = _DECODE_ERRORS.get(rc, f"llama_decode failed with code {rc}")
                raise EngineError(reason)
            if seq == SEQ:
                self.tokens.extend(int(t) for t in tokens)
        return n if want == "all" else (1 if want == "last" else 0)

    def _rows(self, n: int) -> np.ndarray:
        L = lib()
        ptr = L.llama_get_logits(self.ctx) if n > 1 else L.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(n, self.model.n_vocab))

    def feed(self, tokens: Sequence[int], *, all_logits: bool, phase: str) -> np.ndarray:
        if all_logits:
            if len(tokens) > self.n_batch:
                raise ValueError(f"a verification window is limited to {self.n_batch} tokens")
            return self._rows(self._decode(tokens, "all", phase))
        for i in range(0, len(tokens), self.n_batch):
            chunk = tokens[i : i + self.n_batch]
            last = i + self.n_batch >= len(tokens)
            self._decode(chunk, "last" if last else "none", phase)
        return self._rows(1)

    def decode_into(
        self, tokens: Sequence[int], *, seq: int, start: int, logits: bool = False
    ) -> None:
        """Decode tokens into sequence `seq` at positions from `start` (with the last row's
        logits, for `last_row`, if asked)."""
        self._decode(tokens, "last" if logits else "none", "prefill", seq=seq, start=start)

    def last_row(self) -> np.ndarray:
        """The logits of the last decode's last requested row (a view, valid until the next)."""
        return self._rows(1)[0]

    def _drop_tail(self, n_tokens: int) -> bool:
        ok = bool(lib().llama_memory_seq_rm(self.mem, SEQ, n_tokens, -1))
        if ok:
            del self.tokens[n_tokens:]
            self.approximate = tuple(
                (s, min(e, n_tokens)) for s, e in self.approximate if s < n_tokens)
        return ok

    def clear(self) -> None:
        lib().llama_memory_clear(self.mem, True)
        self.tokens = []
        self.approximate = ()
        self._snapshot = None

    def truncate(self, n_tokens: int) -> None:
        if n_tokens >= len(self.tokens):
            return
        if not self.snapshot_mode and self._drop_tail(n_tokens):
            return
        self._restore_snapshot(n_tokens)

    def prefill(self, prompt: Sequence[int]) -> tuple[np.ndarray, int]:
        """Make the cache hold exactly `prompt`, reusing the longest common prefix.

        Returns the logits after the prompt and how many prompt tokens were reused. At least
        the last prompt token is always decoded, since a cache does not keep logits.
        """
        if len(prompt) >= self.n_ctx:
            raise PromptTooLongError(len(prompt), self.n_ctx)
        exact_until = min((start for start, _ in self.approximate), default=len(self.tokens))
        keep = min(shared_prefix(self.tokens[:exact_until], prompt), len(prompt) - 1)
        # Asked before the tail is dropped: a sliding-window cache whose window cells all lie
        # in the tail would report the full-attention cells' first position once they are gone.
        if not self._holds_window_before(keep):
            self.clear()
            keep = 0
        if keep < len(self.tokens) and (self.model.recurrent or not self._drop_tail(keep)):
            self.clear()
            keep = 0
        self._snapshot = None
        row = self.feed(list(prompt[keep:]), all_logits=False, phase="prefill")[0]
        if self.snapshot_mode:
            self.take_snapshot()
        return row, keep

    @property
    def blend_unavailable(self) -> str | None:
        """Why this cache cannot keep cells at new positions, or None if it can."""
        if self.model.recurrent:
            return "recurrent memory"
        if self.snapshot_mode:
            return "snapshot rollback"
        if not lib().llama_memory_can_shift(self.mem):
            return "the memory cannot shift positions"
        return None

    def prefill_blend(
        self, prompt: Sequence[int], *, bridge: int, tail: int, min_keep: int, budget: float,
    ) -> tuple[np.ndarray, int, int, str | None]:
        """Make the cache hold `prompt`, keeping the old KV of unchanged runs after an edit.

        Returns the logits after the prompt, how many prompt tokens were reused in place and
        how many at a new position, and why the blend fell back to an exact prefill, if it did
        (None also when there was nothing to keep past the edit: exact reuse is the blend).
        Ranges a blend shifted are recorded in `approximate` and never kept a second time;
        where they already cover more than `budget` of the cache, the prefill is exact.
        """
        if len(prompt) >= self.n_ctx:
            raise PromptTooLongError(len(prompt), self.n_ctx)
        reason = self.blend_unavailable
        if reason is None and approximate_share(self.approximate, len(self.tokens)) > budget:
            reason = "drift budget reached"
        if reason is None and self.tokens:
            plan = plan_blend(self.tokens, prompt, approximate=self.approximate, bridge=bridge,
                              tail=tail, min_keep=min_keep)
            if plan.keep and not self._holds_window_before(plan.decode[0][0]):
                reason = "the sliding-window cache lacks the cells before the edit"
            elif plan.keep:
                self._snapshot = None
                row = apply_plan(self, prompt, plan, SEQ)
                self.approximate = plan.approximate
                return row, plan.prefix, plan.shifted, None
        row, reused = self.prefill(prompt)
        return row, reused, 0, reason

    def make_exact(self, prompt: Sequence[int], should_stop: Callable[[], bool],
                   chunk: int = 64) -> bool:
        """Recompute the approximate part of the cached `prompt` exactly, off to one side.

        The exact prefix is shared with the scratch sequence, the rest of `prompt` is decoded
        there `chunk` tokens at a time, and only when all of it is done does it replace the
        cached tokens (the answer after the prompt is dropped). `should_stop` is asked between
        chunks; if it says stop, the scratch work is dropped and the cache is left as it was.
        Returns True when the cache now holds `prompt` exactly. Without room for both copies,
        or when the cache does not hold `prompt`, nothing is done and False is returned.
        """
        if self.tokens[: len(prompt)] != list(prompt) or not self.approximate:
            return False
        start = min(s for s, _ in self.approximate)
        if len(self.tokens) + len(prompt) - start > self.n_ctx:
            return False
        L = lib()
        if not self._holds_window_before(start):
            return False
        L.llama_memory_seq_rm(self.mem, SCRATCH, -1, -1)
        L.llama_memory_seq_cp(self.mem, SEQ, SCRATCH, 0, start)
        L.llama_memory_seq_cp(self.mem, SEQ, GUARD, -1, -1)
        try:
            for i in range(start, len(prompt), chunk):
                if should_stop():
                    return False
                self.decode_into(prompt[i : min(len(prompt), i + chunk)], seq=SCRATCH, start=i)
            L.llama_memory_seq_rm(self.mem, SEQ, start, -1)
            L.llama_memory_seq_cp(self.mem, SCRATCH, SEQ, start, -1)
            self.tokens = list(prompt)
            self.approximate = ()
            self._snapshot = None
            return True
        finally:
            L.llama_memory_seq_rm(self.mem, SCRATCH, -1, -1)
            L.llama_memory_seq_rm(self.mem, GUARD, -1, -1)

    def _holds_window_before(self, position: int) -> bool:
        """Does the cache still hold every cell a decode at `position` attends to? A
        sliding-window cache keeps only the last n_swa positions of a saved state (a restored
        Gemma 3 state starts 512 tokens before its end), so an edit earlier than that needs
        the whole prompt again. Standard windows: position p attends to p - n_swa + 1 on."""
        if self.model.n_swa <= 0 or position <= 0:
            return True
        first_needed = max(0, position - self.model.n_swa + 1)
        return int(lib().llama_memory_seq_pos_min(self.mem, SEQ)) <= first_needed
