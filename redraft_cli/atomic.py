"""The CLI's atomic writes: the engine's writer, with a named crash point after each step."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from redraft_engine import atomic_write_bytes as _atomic_write_bytes

from .faults import crash_point


def atomic_write_bytes(
    path: Path, data: bytes, *, label: str, install: Callable[[str, Path], None] = os.replace
) -> None:
    """Write atomically; `label` names the file's kind in crash points (`label:step`), and
    `install(tmp, path)` puts the temporary in place (see the engine's writer)."""
    _atomic_write_bytes(path, data, checkpoint=lambda step: crash_point(f"{label}:{step}"),
                        install=install)


def atomic_write_text(path: Path, text: str, *, label: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), label=label)
