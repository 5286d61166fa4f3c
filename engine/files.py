"""Atomic file writes: a temporary file in the same folder, fsynced, then `os.replace`."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

Checkpoint = Callable[[str], None]
Install = Callable[[str, Path], None]


def _no_checkpoint(_step: str) -> None:
    return None


def temporary_prefix(path: Path) -> str:
    """Name prefix of the temporary files that a write of `path` creates beside it."""
    return f".{path.name}."


TEMPORARY_SUFFIX = ".tmp"
_RANDOM_CHARS = 8  # what tempfile.mkstemp puts between prefix and suffix


def remove_temporaries(path: Path) -> int:
    """Delete what interrupted writes of `path` left beside it; return how many.

    Only safe while no other process may be writing `path` (hold its lock).
    """
    removed = 0
    pattern = glob.escape(temporary_prefix(path)) + "?" * _RANDOM_CHARS + TEMPORARY_SUFFIX
    for tmp in path.parent.glob(pattern):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int | None = None, checkpoint: Checkpoint = _no_checkpoint,
    install: Install = os.replace,
) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part.

    The temporary file lives next to the target (same file system, so the rename is atomic)
    and is removed if anything fails, Ctrl-C included. `mode` defaults to the replaced file's
    permissions, or what a plain open() gives a new file. `checkpoint` is called after each
    step ("tmp-written", "tmp-synced", "renamed"), so tests can cut the sequence there.
    `install(tmp, path)` puts the written temporary in place (default: `os.replace`); if it
    raises, whatever is left at the temporary's path is removed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=temporary_prefix(path), suffix=TEMPORARY_SUFFIX, dir=path.parent
    )
    try:
        os.fchmod(fd, _mode_for(path) if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            checkpoint("tmp-written")
            os.fsync(f.fileno())
            checkpoint("tmp-synced")
        install(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    checkpoint("renamed")


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
