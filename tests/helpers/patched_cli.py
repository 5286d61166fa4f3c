"""Run the `redraft` CLI in this process after applying test-only patches, named in
REDRAFT_TEST_PATCHES (comma-separated), so that a real-process test can inject a fault at a
moment no environment variable of the product reaches, or switch a protection off for its
control:

- sigint-in-model-load: send SIGINT to this process from inside llama.cpp's log callback, as
  the model file starts loading (where a Ctrl-C used to be lost);
- no-deferred-interrupts: Python's own SIGINT handling around llama.cpp calls (the control);
- no-stop-check: decodes never ask whether the caller wants to stop (prefill runs to its end);
- no-token-check: token ids read from the cache reach llama.cpp unchecked.

Usage: python tests/helpers/patched_cli.py run|watch ARGS...
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys


def _sigint_in_model_load() -> None:
    class SendSigint(logging.Handler):
        sent = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.sent and "loaded meta data" in record.getMessage():
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)

    log = logging.getLogger("redraft.llama")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(SendSigint())


def _no_deferred_interrupts() -> None:
    from redraft_engine import kv_session, kv_state, llama_backend, llama_model

    for module in (kv_session, kv_state, llama_backend, llama_model):
        module.deferred_interrupts = contextlib.nullcontext  # type: ignore[attr-defined]


def _no_stop_check() -> None:
    from redraft_engine.kv_session import KVSession

    KVSession._abort_wanted = lambda self, _data: False  # type: ignore[method-assign]


def _no_token_check() -> None:
    from redraft_engine.llama_model import LlamaModel

    LlamaModel.invalid_tokens = lambda self, tokens: []  # type: ignore[method-assign]


PATCHES = {
    "sigint-in-model-load": _sigint_in_model_load,
    "no-deferred-interrupts": _no_deferred_interrupts,
    "no-stop-check": _no_stop_check,
    "no-token-check": _no_token_check,
}

if __name__ == "__main__":
    for name in filter(None, os.environ.get("REDRAFT_TEST_PATCHES", "").split(",")):
        PATCHES[name]()
    from redraft_cli.main import run

    sys.argv[0] = "redraft"
    run()
