"""Every JSON document the CLI prints: one object per line on stdout, flushed."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redraft_engine import Stats

    from .outcome import Mode


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def stats_json(stats: Stats | None) -> dict[str, Any] | None:
    return None if stats is None else stats.to_dict()


def job_json(
    *, source: str, output: str | None, task: str, mode: Mode | None, stats: Stats | None,
    text: str | None = None, error: str | None = None,
) -> dict[str, Any]:
    """One job of `redraft run --json`, its `source` and `output` paths in one form (relative to
    the project root when inside it). The answer text is included when it has no output."""
    doc: dict[str, Any] = {
        "source": source,
        "output": output,
        "task": task,
        "mode": None if mode is None else mode.value,
        "stats": stats_json(stats),
        "truncated": stats is not None and stats.truncated,
    }
    if output is None and text is not None:
        doc["text"] = text
    if error is not None:
        doc["error"] = error
    return doc


def run_document(
    jobs: Sequence[dict[str, Any]], exit_code: int, *, calibration_s: float = 0.0,
    engine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`calibration_s`: seconds this run spent measuring the machine (a model's first use);
    `engine`: where the model ran (absent when no target needed it)."""
    doc = {"targets": list(jobs), "exit_code": exit_code,
           "calibration_s": round(calibration_s, 3)}
    if engine is not None:
        doc["engine"] = engine
    return doc


def watch_event(event: str, **fields: Any) -> dict[str, Any]:
    """One `redraft watch --json` event of plain JSON fields."""
    return {"event": event, **fields}


def answer_event(
    file: str, mode: Mode, text: str, stats: Stats | None, **fields: Any
) -> dict[str, Any]:
    return watch_event("answer", file=file, mode=mode.value, text=text, stats=stats_json(stats),
                       **fields)
