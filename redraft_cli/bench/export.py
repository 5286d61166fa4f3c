"""The `--json` document: model, machine, per-case results and the summary."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from redraft_engine import cpu_name, vector_extensions

from redraft_cli.atomic import atomic_write_text

from .results import CaseResult


def machine_info() -> dict[str, Any]:
    return {
        "system": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "simd": vector_extensions(),
        "python": platform.python_version(),
        "llama_cpp_python": _version("llama-cpp-python"),
        "redraft": _version("redraft"),
    }


def machine_line(info: dict[str, Any]) -> str:
    simd = info.get("simd")
    vectors = "" if simd is None else (", AVX-512" if "avx512f" in simd else ", no AVX-512")
    return f"{info['cpu']}, {info['cpus']} CPUs{vectors}, {info['system']} {info['arch']}"


def document(
    *,
    model: dict[str, Any],
    machine: dict[str, Any],
    settings: dict[str, Any],
    results: list[CaseResult],
    summary: dict[str, Any],
    wall_s: float,
) -> dict[str, Any]:
    return {
        "model": model["name"],
        "model_info": model,
        "machine": machine_line(machine),
        "machine_info": machine,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "wall_s": wall_s,
        "cases": [r.to_json() for r in results],
        "summary": summary,
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n", label="bench")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
