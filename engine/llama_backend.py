"""Lazy access to llama-cpp-python's low-level bindings, with llama.cpp's log routed to `logging`.

Importing llama_cpp loads the shared library; only the engine's loading path calls `lib()`, so
`import redraft_engine` and `redraft --help` stay fast. llama-cpp-python's `verbose=False`
redirects the process's stdout/stderr, so it is never used: the log callback is replaced instead.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from types import ModuleType

from .build_fit import compiled_features, rebuild_hint, unfit_extensions
from .cpu import cpu_flags
from .errors import EngineBuildError
from .interrupts import deferred_interrupts

log = logging.getLogger("redraft.llama")

_LEVELS = {0: logging.CRITICAL, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}
# OpenMP threads that wait for work spin for GOMP_SPINCOUNT iterations before they sleep. The
# default (300,000) made one generation 4.8x slower beside a CPU hog on 2 cores; 20,000 made
# it 2.2x slower (the share of CPU it lost) for about 10 % more time alone. A user's own
# OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. benchmarks/cpu_contention.py measures it.
SPIN_COUNT = "20000"
_state: dict[str, object] = {}
_log_callbacks: list[object] = []


def _import_llama_cpp() -> ModuleType:
    if not os.environ.get("OMP_WAIT_POLICY"):
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)  # read when libgomp loads
    import llama_cpp  # noqa: PLC0415  (lazy on purpose)

    return llama_cpp


def load_before_numpy() -> None:
    """Load llama.cpp's shared libraries now if numpy is not loaded yet. With a CUDA build,
    numpy (its OpenBLAS) loaded first made every model load crash on one GPU machine (a
    segfault inside llama_model_load_from_file); llama.cpp's libraries first, it loaded.
    Errors are left for `lib()` to report."""
    if "llama_cpp" in sys.modules or "numpy" in sys.modules:
        return
    try:
        _import_llama_cpp()
    except Exception:  # noqa: BLE001  (lib() raises it again, with its own message)
        pass


def lib() -> ModuleType:
    """The `llama_cpp` module, imported and initialised once, its log sent to `redraft.llama`."""
    mod = _state.get("lib")
    if mod is None:
        llama_cpp = _import_llama_cpp()

        @llama_cpp.llama_log_callback
        def _forward(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
            # llama.cpp is chatty at every level; keep it all below WARNING unless asked for.
            if log.isEnabledFor(logging.DEBUG):
                log.debug("[%s] %s", logging.getLevelName(_LEVELS.get(level, 10)),
                          text.decode("utf-8", "replace").rstrip())

        _log_callbacks.append(_forward)  # llama.cpp keeps calling it: it must never be freed
        llama_cpp.llama_log_set(_forward, ctypes.c_void_p(0))
        with deferred_interrupts():
            info = llama_cpp.llama_print_system_info()
        compiled = compiled_features(info.decode("utf-8", "replace"))
        unfit = unfit_extensions(compiled, cpu_flags())
        if unfit:
            raise EngineBuildError(
                f"the installed llama.cpp was built for another CPU (it uses {', '.join(unfit)}, "
                f"which this CPU lacks); {rebuild_hint(llama_cpp.__version__)}")
        with deferred_interrupts():
            llama_cpp.llama_backend_init()
        _state["compiled"] = compiled
        _state["lib"] = llama_cpp
        mod = llama_cpp
    return mod  # type: ignore[return-value]


def build_features() -> frozenset[str]:
    """The CPU features the loaded llama.cpp library was compiled with (`AVX2`, `AMX_INT8`…)."""
    lib()
    return _state["compiled"]  # type: ignore[return-value]
