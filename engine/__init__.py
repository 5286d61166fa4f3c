"""redraft_engine: incremental LLM regeneration on an embedded llama.cpp engine.

The pure core (rules, guards, replay state machine, spans, window policy) imports neither
llama_cpp nor the file system; the adapter (`Engine`) drives llama.cpp. Names that pull in
numpy or llama_cpp (`Engine` and the rules) load on first use, so importing this package to
check a model file or read a stored answer stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .calibration import calibration_files, default_calibration_dir, noise_files
from .cpu import cpu_key, cpu_name, vector_extensions
from .defaults import DEFAULT_MAX_TOKENS, DEFAULT_N_CTX, PROMPT_REUSE_MODES, RULE_NAMES
from .devices import FLASH_ATTN, gpu_devices, parse_flash_attn, parse_gpu_layers
from .errors import (
    EngineBuildError,
    EngineError,
    InvalidModelError,
    InvalidTokenError,
    ModelNotFoundError,
    PromptTooLongError,
    RedraftError,
    Stopped,
)
from .files import (
    TEMPORARY_SUFFIX,
    Checkpoint,
    atomic_write_bytes,
    remove_temporaries,
    temporary_prefix,
)
from .guards import Edit, diff_words
from .messages import Message, Prompt
from .model_source import ModelFile
from .result import Draft, Result, Stream
from .spans import HELD, REWRITTEN, Span, SpanKind, TokenEvent
from .stats import Stats, Timings

if TYPE_CHECKING:
    from .engine import Engine
    from .policy import EditContext
    from .rules import AcceptanceRule, ExactRule, TolerantRule, rule_by_name
    from .sampling import Sampling

_LAZY = {
    "Engine": ".engine",
    "AcceptanceRule": ".rules",
    "EditContext": ".policy",
    "ExactRule": ".rules",
    "TolerantRule": ".rules",
    "rule_by_name": ".rules",
    "Sampling": ".sampling",
}

__all__ = [
    "DEFAULT_MAX_TOKENS", "DEFAULT_N_CTX", "FLASH_ATTN", "HELD", "PROMPT_REUSE_MODES", "REWRITTEN",
    "RULE_NAMES", "TEMPORARY_SUFFIX",
    "AcceptanceRule", "Checkpoint", "Draft", "Edit", "EditContext", "Engine", "EngineBuildError",
    "EngineError",
    "ExactRule", "InvalidModelError", "InvalidTokenError", "Message", "ModelFile",
    "ModelNotFoundError", "Prompt",
    "PromptTooLongError", "RedraftError", "Result", "Sampling", "Span", "SpanKind", "Stats",
    "Stopped", "Stream",
    "Timings", "TokenEvent", "TolerantRule", "atomic_write_bytes", "calibration_files",
    "cpu_key", "cpu_name", "default_calibration_dir", "diff_words", "gpu_devices", "noise_files",
    "parse_flash_attn", "parse_gpu_layers",
    "remove_temporaries", "rule_by_name", "temporary_prefix", "vector_extensions",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'redraft_engine' has no attribute {name!r}")
    if name == "Engine":
        from .llama_backend import load_before_numpy

        load_before_numpy()
    return getattr(importlib.import_module(module, __name__), name)
