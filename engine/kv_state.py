"""Serialized states of a KV session: the snapshot a rollback restores where the memory cannot
drop a tail, and the export and import that carry a cache to another process.

llama.cpp's per-sequence state of a sliding-window cache keeps only the cells the window still
sees (the last n_swa positions), so an edit earlier than that could not reuse the restored
prefix. The whole-context state keeps them all; a blob in that form starts with `WHOLE_CONTEXT`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import EngineError
from .interrupts import deferred_interrupts
from .kv_blend import SEQ
from .llama_backend import lib

if TYPE_CHECKING:
    from .blend_plan import Span
    from .llama_model import LlamaModel

WHOLE_CONTEXT = b"redraft-whole-context-state-1\n"


class SessionState:
    """The state half of `KVSession` (a mixin: it uses the session's context and decodes)."""

    model: LlamaModel
    ctx: Any
    mem: Any
    n_ctx: int
    n_batch: int
    tokens: list[int]
    approximate: tuple[Span, ...]
    _snapshot: tuple[ctypes.Array, int] | None
    snapshot_restores: int

    clear: Callable[[], None]
    _decode: Callable[..., int]

    def _state_buffer(self, *, whole: bool = False) -> tuple[ctypes.Array, int]:
        """A buffer holding the serialized state of the sequence (of the whole context if
        `whole`), and its length in bytes."""
        L = lib()
        size = L.llama_state_get_size(self.ctx) if whole else L.llama_state_seq_get_size(
            self.ctx, SEQ)
        buf = (ctypes.c_uint8 * size)()
        if whole:
            return buf, int(L.llama_state_get_data(self.ctx, buf, size))
        return buf, int(L.llama_state_seq_get_data(self.ctx, buf, size, SEQ))

    def take_snapshot(self) -> None:
        buf, written = self._state_buffer()
        if written == 0:
            raise EngineError("could not snapshot the sequence state")
        self._snapshot = (buf, len(self.tokens))

    def _restore_snapshot(self, n_tokens: int) -> None:
        if self._snapshot is None or self._snapshot[1] > n_tokens:
            raise EngineError(
                "the KV cache cannot drop a tail and no snapshot covers the kept tokens"
            )
        buf, n_snap = self._snapshot
        kept = self.tokens[n_snap:n_tokens]
        L = lib()
        L.llama_memory_seq_rm(self.mem, SEQ, -1, -1)
        if L.llama_state_seq_set_data(self.ctx, buf, len(buf), SEQ) == 0:
            self.tokens = []
            raise EngineError("restoring the snapshot of the prompt state failed")
        self.tokens = self.tokens[:n_snap]
        self.snapshot_restores += 1
        for i in range(0, len(kept), self.n_batch):
            self._decode(kept[i : i + self.n_batch], "none", "verify")

    def export_state(self) -> tuple[list[int], bytes]:
        """The cached tokens and the serialized state of their sequence (of the whole context,
        marked, for a sliding-window model: the only sequence it holds between calls)."""
        whole = self.model.n_swa > 0
        buf, written = self._state_buffer(whole=whole)
        return list(self.tokens), (WHOLE_CONTEXT if whole else b"") + ctypes.string_at(buf, written)

    def import_state(
        self, tokens: Sequence[int], data: bytes, approximate: Sequence[Span] = ()
    ) -> bool:
        """Load a state saved by `export_state` (with the `approximate` ranges it had then);
        on failure the cache is left empty."""
        L = lib()
        self.clear()
        if not data or len(tokens) >= self.n_ctx or self.model.invalid_tokens(tokens):
            return False
        whole = data.startswith(WHOLE_CONTEXT)
        body = data[len(WHOLE_CONTEXT):] if whole else data
        buf = (ctypes.c_uint8 * len(body)).from_buffer_copy(body)
        try:
            with deferred_interrupts():
                if whole:
                    loaded = L.llama_state_set_data(self.ctx, buf, len(body)) != 0
                else:
                    loaded = L.llama_state_seq_set_data(self.ctx, buf, len(body), SEQ) != 0
        except BaseException:  # Ctrl-C: the cache must not hold a state `tokens` does not list
            self.clear()
            raise
        if not loaded or int(L.llama_memory_seq_pos_max(self.mem, SEQ)) != len(tokens) - 1:
            self.clear()
            return False
        self.tokens = [int(t) for t in tokens]
        self.approximate = tuple((int(a), int(b)) for a, b in approximate)
        return True
