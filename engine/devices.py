"""The compute devices of the installed llama.cpp, and how many model layers go to a GPU.

`gpu_layers` is a count, `"all"`, or `"auto"` (all where the build has a GPU backend: CUDA,
Metal, Vulkan…, else none). Parsing is pure; asking the build which devices it has loads
llama_cpp, so only the engine's loading path does it.
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass
from functools import lru_cache

ALL = "all"
AUTO = "auto"
ALL_LAYERS = -1  # llama.cpp's n_gpu_layers for "every layer"
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}  # llama_flash_attn_type
_GPU_KINDS = {1: "GPU", 2: "iGPU"}  # ggml_backend_dev_type: dedicated and integrated GPUs

GpuLayers = int | str


def parse_gpu_layers(raw: object) -> GpuLayers:
    """`raw` as a gpu_layers setting: a count >= 0, "all" or "auto" (ValueError otherwise)."""
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in (ALL, AUTO):
            return text
        if text.isdigit():
            return int(text)
    elif isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise ValueError(f"must be a number of layers (0 keeps the model on the CPU), "
                     f"'all' or 'auto', got {raw!r}")


def parse_flash_attn(raw: object) -> str:
    if raw not in FLASH_ATTN:
        raise ValueError(f"must be one of {', '.join(FLASH_ATTN)}, got {raw!r}")
    return raw  # type: ignore[return-value]


def requested_layers(setting: GpuLayers, has_gpu: bool) -> int:
    """llama.cpp's n_gpu_layers for `setting`."""
    if setting == AUTO:
        return ALL_LAYERS if has_gpu else 0
    if setting == ALL:
        return ALL_LAYERS
    return int(setting)


def layer_count(n_layer: int) -> int:
    """The layers llama.cpp can offload: the model's, and the output layer as one more."""
    return n_layer + 1


def offloaded_layers(requested: int, n_layer: int, has_gpu: bool) -> int:
    """How many of `layer_count(n_layer)` layers llama.cpp puts on a GPU."""
    if not has_gpu:
        return 0
    total = layer_count(n_layer)
    return total if requested < 0 else min(requested, total)


@dataclass(frozen=True)
class Device:
    name: str  # llama.cpp's name, such as CUDA0, Metal, Vulkan0
    description: str  # the hardware, such as "NVIDIA H200"
    kind: str

    def __str__(self) -> str:
        return f"{self.name} ({self.description})" if self.description else self.name


@lru_cache(maxsize=1)
def gpu_devices() -> tuple[Device, ...]:
    """The GPUs the installed llama.cpp can offload to (none for a CPU-only build)."""
    from .llama_backend import lib

    L = lib()
    if not L.llama_supports_gpu_offload():
        return ()
    from llama_cpp._ggml import libggml  # noqa: PLC0415  (lazy: loads the library)

    libggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    libggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    libggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    for fn in (libggml.ggml_backend_dev_name, libggml.ggml_backend_dev_description):
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = ctypes.c_char_p
    libggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    libggml.ggml_backend_dev_type.restype = ctypes.c_int
    found = []
    for i in range(libggml.ggml_backend_dev_count()):
        dev = libggml.ggml_backend_dev_get(i)
        kind = _GPU_KINDS.get(libggml.ggml_backend_dev_type(dev))
        if kind is not None:
            found.append(Device(
                (libggml.ggml_backend_dev_name(dev) or b"").decode("utf-8", "replace"),
                (libggml.ggml_backend_dev_description(dev) or b"").decode("utf-8", "replace"),
                kind))
    return tuple(found)


def device_key(devices: tuple[Device, ...], offloaded: int, flash_attn: str) -> str:
    """The part of a calibration key that names where the model runs: empty for the CPU with
    llama.cpp's default attention (the keys measured before GPUs existed here stay valid)."""
    key = ""
    if offloaded > 0:
        ident = "|".join(f"{d.name}:{d.description}" for d in devices)
        key += f"-gpu{hashlib.sha256(ident.encode()).hexdigest()[:8]}-g{offloaded}"
    if flash_attn != AUTO:
        key += f"-fa{flash_attn}"
    return key


def backend_name(devices: tuple[Device, ...], offloaded: int) -> str:
    """Where the offloaded layers run, for reports: "CPU" when none is, else the GPUs."""
    if offloaded == 0 or not devices:
        return "CPU"
    return ", ".join(str(d) for d in devices)
