"""The `--json` document: model, machine, per-case results and the summary."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from redraft_cli.atomic import atomic_write_text

from .results import CaseResult


def machine_info() -> dict[str, Any]:
    return {
        "system": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu": _cpu_name(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "llama_cpp_python": _version("llama-cpp-python"),
        "redraft": _version("redraft"),
    }


def machine_line(info: dict[str, Any]) -> str:
    return f"{info['cpu']}, {info['cpus']} CPUs, {info['system']} {info['arch']}"


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


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
