"""Linux `renameat2`: swap two paths atomically, or rename without replacing.

Each call returns False where the C library lacks `renameat2` or the file system refuses the
flag, so that callers can fall back to a plain `os.replace`. Other failures raise OSError
(FileExistsError when `rename_noreplace` finds its target taken).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from collections.abc import Callable

from .faults import rename_exchange_disabled

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def rename_exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap what `a` and `b` name (both must exist); False if this system cannot."""
    return _renameat2(a, b, RENAME_EXCHANGE)


def rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> bool:
    """Rename `src` to `dst` unless `dst` exists (FileExistsError); False if this system
    cannot."""
    return _renameat2(src, dst, RENAME_NOREPLACE)


@functools.cache
def _libc_renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc 2.28 and later
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


def _renameat2(a: str | os.PathLike[str], b: str | os.PathLike[str], flags: int) -> bool:
    fn = None if rename_exchange_disabled() else _libc_renameat2()
    if fn is None:
        return False
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), os.fspath(a), None, os.fspath(b))
