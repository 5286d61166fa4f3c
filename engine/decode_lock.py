"""One decoding process at a time on this machine.

Two processes that decode at once on a small CPU starve each other: llama.cpp's threads wait
for each other at every layer, and with the other process's threads in the way one generation
was measured 3-40x slower (benchmarks/cpu_contention.py --pair). Taking turns costs each at most
the other's call. The lock is an flock on a file, released by the kernel if a process dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def decode_turn(path: Path | None) -> Iterator[None]:
    """Hold the machine's decode lock at `path` (no lock when None) for the block."""
    if path is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # an unusable lock folder must not stop an answer: decode without turns
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
