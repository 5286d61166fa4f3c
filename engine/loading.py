"""What an `Engine` does once, as it loads: the model on the device asked for, and calibration.

`load_model` asks the installed llama.cpp which GPUs it has (`gpu_devices`), loads the model
with the layers to offload, and says how many went to a GPU and which backend runs it.
`calibrate` loads or measures the window cost table and the near-tie noise for this model on
this machine and device (`calibration_key`), kept in the calibration folder (calibration.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .calibration import default_calibration_dir, load_or_measure_costs, load_or_measure_noise
from .cpu import cpu_key
from .devices import (
    Device,
    GpuLayers,
    backend_name,
    device_key,
    gpu_devices,
    offloaded_layers,
    requested_layers,
)
from .llama_model import LlamaModel
from .noise import NoiseEstimate
from .window import DEFAULT_COST, CostModel

if TYPE_CHECKING:
    from .kv_session import KVSession
    from .model_source import ModelFile


class Placement(NamedTuple):
    """A loaded model and where it runs."""

    devices: tuple[Device, ...]  # the GPUs llama.cpp found
    model: LlamaModel
    gpu_layers: int  # layers offloaded to a GPU (llama.cpp counts the output layer)
    backend: str


class Calibration(NamedTuple):
    """This machine's measurements for the model, and how long measuring took."""

    cost: CostModel
    noise_estimate: NoiseEstimate | None
    calibration_s: float  # 0.0 when everything was saved


def load_model(model: ModelFile, gpu_layers: GpuLayers) -> Placement:
    """Load `model` with `gpu_layers` (parsed) offloaded where llama.cpp has a GPU."""
    devices = gpu_devices()
    requested = requested_layers(gpu_layers, bool(devices))
    loaded = LlamaModel(model.path, n_gpu_layers=requested)
    offloaded = offloaded_layers(requested, loaded.n_layer, bool(devices))
    return Placement(devices, loaded, offloaded, backend_name(devices, offloaded))


def calibration_key(
    model: ModelFile, session: KVSession, devices: tuple[Device, ...], gpu_layers: int,
    flash_attn: str,
) -> str:
    """Names the measurements of `model` on this CPU, with these context settings and device."""
    return (f"{model.fingerprint}-{cpu_key()}-t{session.n_threads}-b{session.n_batch}"
            f"-c{session.n_ctx}"
            f"{device_key(devices, gpu_layers, flash_attn)}")


def calibrate(
    session: KVSession, key: str, calibration_dir: str | os.PathLike[str] | None, *,
    window: int | None, noise: float | None, on_calibrate: Callable[[str], None] | None,
) -> Calibration:
    """The cost table (unless `window` fixes the window) and the noise measurement (unless
    `noise` is given), each loaded from `calibration_dir` or measured and saved there;
    `on_calibrate` is called before each measurement."""
    cost = DEFAULT_COST
    folder = default_calibration_dir() if calibration_dir is None else Path(calibration_dir)
    measured: list[str] = []

    def measuring(what: str) -> None:
        measured.append(what)
        if on_calibrate is not None:
            on_calibrate(what)

    t0 = time.perf_counter()
    if window is None:
        cost = load_or_measure_costs(session, key, folder, measuring)
    noise_estimate = None if noise is not None else measured_noise(
        session, key, folder, measuring)
    calibration_s = time.perf_counter() - t0 if measured else 0.0
    return Calibration(cost, noise_estimate, calibration_s)


def measured_noise(
    session: KVSession, key: str, folder: Path, measuring: Callable[[str], None]
) -> NoiseEstimate | None:
    try:
        return load_or_measure_noise(session, key, folder, measuring)
    except ValueError:
        return None  # a context too small to measure in: no decision counts as a near-tie
