"""Stopping a KV session's decode early: the abort check llama.cpp asks between the operations
of its graph says stop on Ctrl-C (see interrupts.py) and once the caller's `should_stop` does;
`KVSession._decode` then raises `Stopped`, or the error `should_stop` raised."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .interrupts import interrupt_pending
from .llama_backend import lib

STOP_POLL_S = 0.01  # a stop check may cost more than llama.cpp's per-operation abort check


class StopChecks:
    """The stop half of `KVSession` (a mixin: it sets the abort check of the session's
    context)."""

    ctx: Any

    def _init_stop_checks(self) -> None:
        L = lib()
        self._should_stop: Callable[[], bool] | None = None
        self._stop_asked = False
        self._stop_error: BaseException | None = None
        self._stop_polled = 0.0
        self._abort_check = L.ggml_abort_callback(self._abort_wanted)
        self._no_abort_check = L.ggml_abort_callback()  # NULL: no check

    @contextmanager
    def stoppable(self, should_stop: Callable[[], bool] | None) -> Iterator[None]:
        """Within the block, a decode ends early with `Stopped` once `should_stop()` says so,
        and on Ctrl-C. llama.cpp asks between the operations of its graph, so even a long
        prompt stops within milliseconds, and the batches are the ones an uninterrupted
        prefill decodes (its numerics unchanged). The cache keeps the batches decoded before.
        """
        L = lib()
        self._should_stop = should_stop
        self._stop_asked = False
        self._stop_error = None
        self._stop_polled = 0.0
        L.llama_set_abort_callback(self.ctx, self._abort_check, None)
        try:
            yield
        finally:
            L.llama_set_abort_callback(self.ctx, self._no_abort_check, None)
            self._should_stop = None

    def _abort_wanted(self, _data: ctypes.c_void_p) -> bool:
        if interrupt_pending():
            return True
        now = time.monotonic()
        if self._should_stop is not None and now - self._stop_polled >= STOP_POLL_S:
            self._stop_polled = now
            try:
                self._stop_asked = self._stop_asked or bool(self._should_stop())
            except BaseException as exc:  # ctypes would drop it: raised again by _decode
                self._stop_error = exc
                self._stop_asked = True
        return self._stop_asked
