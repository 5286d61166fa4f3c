"""`redraft config`: the resolved settings and where each one came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redraft_engine import RedraftError, gpu_devices, noise_files
from rich.console import Console
from rich.table import Table

from .config import Config
from .config_keys import KEYS
from .config_values import AUTO, FINAL_PROMPT_REUSE, WATCH_PROMPT_REUSE
from .json_out import emit
from .tasks import BUILTIN_TASKS


def _gpus() -> list[str] | None:
    """The GPUs the installed llama.cpp offers (None where it cannot be loaded)."""
    try:
        return [str(d) for d in gpu_devices()]
    except RedraftError:
        return None


def _shown(name: str, value: Any) -> str:
    if value is None or value == ():
        return "(none)" if name != "model" else "(bundled SmolLM2-135M-Instruct)"
    if name == "prompt_reuse" and value == AUTO:
        return (f"{AUTO} (watch: {WATCH_PROMPT_REUSE}, confirmed when idle; "
                f"run: {FINAL_PROMPT_REUSE})")
    if name == "gpu_layers" and value == AUTO:
        gpus = _gpus()
        if gpus is None:
            return f"{AUTO} (all where llama.cpp has a GPU backend, else 0)"
        return f"{AUTO} (here: all, {', '.join(gpus)})" if gpus else (
            f"{AUTO} (here: 0, no GPU backend)")
    return str(value)


def config_document(config: Config) -> dict[str, Any]:
    return {
        "root": str(config.root),
        "files": [str(p) for p in config.files],
        "settings": {
            name: {"value": config.settings.items[name].value,
                   "source": config.settings.source(name)}
            for name in KEYS
        },
        "tasks": {name: t.template for name, t in config.tasks.items()
                  if name not in BUILTIN_TASKS},
        "targets": [
            {"source": str(t.source), "output": str(t.output), **t.options}
            for t in config.targets
        ],
        "gpu_devices": _gpus(),
        "noise": [{"calibration": key, **estimate.to_json()}
                  for key, estimate in noise_files(Path(config.settings.calibration_dir)).items()],
    }


def show_config(config: Config, *, as_json: bool, console: Console) -> None:
    if as_json:
        emit(config_document(config))
        return
    console.print(f"project root: {config.root}", markup=False)
    files = ", ".join(str(p) for p in config.files) or "(none)"
    console.print(f"config files: {files}", markup=False)
    table = Table("setting", "value", "source", box=None, pad_edge=False)
    for name in KEYS:
        item = config.settings.items[name]
        table.add_row(name, _shown(name, item.value), item.source)
    console.print(table)
    custom = {n: t for n, t in config.tasks.items() if n not in BUILTIN_TASKS}
    for name, task in custom.items():
        console.print(f"task {name}: {task.template!r}", markup=False)
    for target in config.targets:
        extra = "".join(f", {k}={v!r}" for k, v in target.options.items())
        console.print(f"target: {target.source} -> {target.output}{extra}", markup=False)
    measured = noise_files(Path(config.settings.calibration_dir))
    if not measured:
        console.print("near-tie noise: not measured yet (measured once per model, on its first "
                      "answer)", markup=False)
    for key, estimate in measured.items():
        console.print(
            f"near-tie noise: {estimate.noise:.2f} logits for calibration {key} (percentile "
            f"{estimate.percentile:g} of {estimate.samples} batched-vs-serial margin changes, "
            f"max {estimate.max_change:.2f})", markup=False)
