"""One lock per target, so that two redraft processes never interleave on the same cache entry."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CliError, LockTimeout

_POLL_S = 0.05


@contextmanager
def exclusive_lock(path: Path, *, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`, waiting up to `timeout` seconds for it.

    flock locks die with their process, so a crashed run never leaves a stale lock behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CliError(f"cannot create the lock {path} of {what}: {exc.strerror}; fix or "
                          "remove it, then run again") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another redraft process is working on {what} "
                        f"(waited {timeout:g} s for its lock); try again, or raise lock_timeout"
                    ) from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
