"""File access for the `.redraft/` cache, and what its failures are reported as.

A cache file that cannot be read or written for a reason other than damage (no permission, a
read-only or full disk) is a CacheError (exit 2) naming the path and the fix for its cause:
read_cache_file reads one, cache_io wraps writes, cache_io_error builds the error. Damaged
files are not errors here: cache.py reports and deletes them. _remove deletes a path of
either type (a file, or a folder with its contents), for cache.py and cache_usage.py.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CliError


class CacheError(CliError):
    """The cache cannot be read or written (exit 2); the message names the path and a fix."""


_NO_ACCESS = {errno.EROFS, errno.EACCES, errno.EPERM}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_ELSEWHERE = "set cache_dir (REDRAFT_CACHE_DIR)"


def read_cache_file(path: Path) -> bytes:
    """The file's bytes; a cache file that cannot be read for another reason than being
    missing or of the wrong type is a CacheError, not corruption: it is not deleted."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise
    except OSError as exc:
        if exc.errno in _NO_ACCESS:
            fix = f"make it readable, or {_ELSEWHERE} to another folder"
        else:
            fix = "fix its permissions, or remove the cache folder (redraft cache clear --all)"
        raise CacheError(f"cache file {path}: {exc.strerror or exc}; {fix}") from None


def cache_io_error(where: str | Path, exc: OSError) -> CacheError:
    """The error for a cache path that could not be written or read: its cause's fix."""
    if exc.errno in _NO_ACCESS:
        fix = f"make it writable, or {_ELSEWHERE} to a writable folder"
    elif exc.errno in _NO_SPACE:
        fix = f"free some space, or {_ELSEWHERE} to a folder on a disk with room"
    else:
        fix = "fix it or remove the cache folder (redraft cache clear --all), then run again"
    return CacheError(f"cache path {where}: {exc.strerror or exc}; {fix}")


@contextmanager
def cache_io(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        # a rename names its target second
        raise cache_io_error(exc.filename2 or exc.filename or path, exc) from None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)

