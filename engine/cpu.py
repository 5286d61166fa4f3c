"""What this CPU is, as far as llama.cpp's kernels care: its name and vector extensions.

Two CPUs that differ here decode the same prompt to slightly different logits (another kernel,
another summation order), so measurements taken on one (window costs, the near-tie noise) are
kept apart from another's.
"""

from __future__ import annotations

import hashlib
import platform
from functools import lru_cache
from pathlib import Path

# The vector extensions llama.cpp's CPU kernels choose between, narrowest first.
VECTOR_EXTENSIONS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16",
                     "amx_tile")


def cpuinfo_field(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo (None where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as /proc/cpuinfo names them (empty where it does not say)."""
    return frozenset((cpuinfo_field("flags") or "").split())


def vector_extensions() -> list[str]:
    present = cpu_flags()
    return [f for f in VECTOR_EXTENSIONS if f in present]


@lru_cache(maxsize=1)
def cpu_key() -> str:
    """A short stable name for this CPU's kind: its architecture, model name and vector
    extensions, hashed."""
    ident = "|".join([platform.machine(), cpu_name(), *vector_extensions()])
    return "cpu" + hashlib.sha256(ident.encode()).hexdigest()[:8]
