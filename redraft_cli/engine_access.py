"""The model files and loaded engines of one command. Nothing here imports llama_cpp until an
engine is actually needed, so a run whose targets are all unchanged never loads a model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from redraft_engine import ModelFile

from .config import Settings
from .config_values import AUTO
from .console import warn

if TYPE_CHECKING:
    from redraft_engine import Engine

log = logging.getLogger("redraft.cli")
DECODE_LOCK = "decode.lock"  # in calibration_dir: one per machine and user


class Models:
    """Each distinct model path resolved, checked and fingerprinted once.

    The path comes from the settings, which already apply the precedence flag > target >
    REDRAFT_MODEL > config files; no setting means the bundled model.
    """

    def __init__(self) -> None:
        self._files: dict[str | None, ModelFile] = {}

    def identify(self, settings: Settings) -> ModelFile:
        path = settings.model
        found = self._files.get(path)
        if found is None:
            found = self._files[path] = ModelFile.open(path)
        return found


OnCalibrate = Callable[[str], None]


def load_engine(
    settings: Settings, model: ModelFile, on_calibrate: OnCalibrate | None = None
) -> Engine:
    """Load `model` with the engine settings of `settings` (about a second for the bundled one;
    the first load on a machine also measures it, `on_calibrate` hearing what)."""
    from redraft_engine import Engine

    log.debug("loading %s", model.path)
    engine = Engine(
        model, n_ctx=settings.n_ctx, n_threads=settings.threads,
        max_tokens=settings.max_tokens, prompt_reuse=settings.prompt_reuse,
        calibration_dir=settings.calibration_dir, gpu_layers=settings.gpu_layers,
        flash_attn=settings.flash_attn,
        decode_lock=Path(settings.calibration_dir) / DECODE_LOCK, on_calibrate=on_calibrate,
    )
    log.debug("%s: %d of %d layers on %s, flash attention %s", model.path.name,
              engine.gpu_layers, engine.n_layers, engine.backend, engine.flash_attn)
    if settings.gpu_layers not in (AUTO, 0) and engine.gpu_layers == 0:
        warn(f"gpu_layers {settings.gpu_layers} ({settings.source('gpu_layers')}) asks for a "
             "GPU, but the installed llama.cpp has no GPU backend: the model runs on the CPU "
             "(rebuild llama-cpp-python for the GPU, see the README)")
    return engine


def engine_json(engine: Engine) -> dict[str, object]:
    """Where the model runs, for --json reports."""
    return {"backend": engine.backend, "gpu_layers": engine.gpu_layers,
            "n_layers": engine.n_layers, "flash_attn": engine.flash_attn}


def calibration_notice(show: Callable[[str], None]) -> OnCalibrate:
    """What the user reads while a first load measures the machine (9-15 s on 2 cores)."""

    def notice(what: str) -> None:
        show(f"first use of this model on this machine, measured once (about 10 s): {what}")

    return notice


class LazyEngine:
    """Loads an engine on first use. One engine is loaded at a time: asking for another model
    frees the current one. `calibration_s` adds up the seconds spent measuring the machine."""

    def __init__(self, settings: Settings, on_calibrate: OnCalibrate | None = None):
        self.settings = settings
        self.on_calibrate = on_calibrate
        self.calibration_s = 0.0
        self._engine: Engine | None = None
        # Key of the target whose prompt (and maybe a partial answer) the KV cache holds now.
        self.holds: str | None = None

    @property
    def loaded(self) -> Engine | None:
        return self._engine

    def get(self, model: ModelFile) -> Engine:
        if self._engine is not None and self._engine.model_file != model:
            self._engine.close()
            self._engine = None
        if self._engine is None:
            self._engine = load_engine(self.settings, model, self.on_calibrate)
            self.calibration_s += self._engine.calibration_s
            self.holds = None
        return self._engine
