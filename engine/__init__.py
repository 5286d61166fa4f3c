"""redraft_engine: incremental LLM regeneration on an embedded llama.cpp engine.

The pure core (rules, guards, replay state machine, spans, window policy) imports neither
llama_cpp nor the file system; the adapter (`Engine`, loaded lazily) drives llama.cpp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    EngineError,
    InvalidModelError,
    ModelNotFoundError,
    PromptTooLongError,
    RedraftError,
)
from .guards import Edit, EditContext
from .result import Result, Stream
from .rules import AcceptanceRule, ExactRule, TolerantRule, rule_by_name
from .spans import HELD, REWRITTEN, Span, TokenEvent
from .stats import Stats, Timings

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "AcceptanceRule", "Edit", "EditContext", "Engine", "EngineError", "ExactRule", "HELD",
    "InvalidModelError", "ModelNotFoundError", "PromptTooLongError", "REWRITTEN", "RedraftError",
    "Result", "Span", "Stats", "Stream", "Timings", "TokenEvent", "TolerantRule", "rule_by_name",
]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from .engine import Engine

        return Engine
    raise AttributeError(name)
