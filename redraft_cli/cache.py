"""The `.redraft/` cache: last answers per target, their KV states, and what was written where.

Layout (versioned, so a future format lives beside this one instead of misreading it):

    .redraft/CACHEDIR.TAG, .redraft/.gitignore
    .redraft/v2/entries/<key>.json    prompt, answer (text, tokens, decision margins), stats
    .redraft/v2/states/<key>.kv       llama.cpp KV state of that prompt and answer
    .redraft/v2/outputs/<hash>.json   what redraft wrote to an output file (see outputs.py)
    .redraft/v2/locks/<key>.lock      one flock per target

v2 added the answers' decision margins. Files of the previous layout (v1) are still read where
v2 has none: an entry without margins works, as margins unknown, and the record of an output
written under v1 still protects its hand edits. Writes go to the current layout only.

Every write is atomic; a file that fails to parse is reported once, deleted and regenerated.

This module holds the Cache: its folder, locks, entries and KV states. The keys and file
formats are in cache_format.py, the errors of file access in cache_files.py, and the size
bound (LRU), info and clear in cache_usage.py.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from redraft_engine import remove_temporaries

from .atomic import atomic_write_bytes, atomic_write_text
from .cache_files import CacheError, _remove, cache_io, cache_io_error, read_cache_file
from .cache_format import (
    CACHEDIR_TAG,
    LAYOUT,
    PREVIOUS_LAYOUT,
    SUBFOLDERS,
    Entry,
    pack_state,
    unpack_state,
)
from .cache_usage import CacheUsage
from .locking import exclusive_lock

if TYPE_CHECKING:
    from .config import Config


def open_cache(config: Config) -> Cache:
    """The project's cache as the config sets it, warning on stderr about corrupt files."""
    from .console import warn

    settings = config.settings
    return Cache(config.cache_dir, max_size=settings.cache_max_size, warn=warn,
                 lock_timeout=settings.lock_timeout)


class Cache(CacheUsage):
    """One project's `.redraft/` folder. `warn` receives one line per corrupt file found."""

    def __init__(
        self, path: Path, *, max_size: int, warn: Callable[[str], None],
        lock_timeout: float = 120.0,
    ):
        self.path = path
        self.base = path / LAYOUT
        self.max_size = max_size
        self.warn = warn
        self.lock_timeout = lock_timeout
        self._ensured = False

    # --- folder ---------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the layout with its CACHEDIR.TAG and a .gitignore that ignores everything.

        Anything inside the cache folder that has the wrong type (a file where a folder
        belongs, or the reverse) is redraft's own and is rebuilt; a cache folder that is not a
        folder is reported (CacheError), since it may be someone else's file, and so is a
        layout that cannot be written, with what fixes it. Checked once per Cache object (one
        command).
        """
        if self._ensured:
            return
        if self.path.exists() and not self.path.is_dir():
            raise CacheError(f"the cache folder {self.path} is a file; move it away, or set "
                             "cache_dir to another folder")
        with cache_io(self.path):
            for folder in (self.base, *(self.base / sub for sub in SUBFOLDERS)):
                if folder.exists() and not folder.is_dir():
                    self._rebuild(folder)
                folder.mkdir(parents=True, exist_ok=True)
            for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")):
                if _read_text(self.path / name) != text:
                    if (self.path / name).is_dir():
                        self._rebuild(self.path / name)
                    atomic_write_text(self.path / name, text, label="tag")
        try:  # folders that exist already may still refuse writes (a read-only file system)
            tempfile.TemporaryFile(dir=self.base).close()
        except OSError as exc:
            raise cache_io_error(self.base, exc) from None
        self._ensured = True

    def _rebuild(self, path: Path) -> None:
        self.warn(f"cache path {path} had the wrong type; rebuilt")
        _remove(path)

    @contextmanager
    def lock(self, key: str, *, timeout: float, what: str) -> Iterator[None]:
        self.ensure()
        path = self.base / "locks" / f"{key}.lock"
        if path.is_dir():
            with cache_io(path):
                self._rebuild(path)
        with exclusive_lock(path, timeout=timeout, what=what):
            yield

    def readable(self, path: Path) -> Path:
        """Where to read the cache file `path` of this layout: there, else where the previous
        layout kept the same file, if it did."""
        if path.exists():
            return path
        older = self.path / PREVIOUS_LAYOUT / path.relative_to(self.base)
        return older if older.is_file() else path

    def make_way(self, path: Path) -> None:
        """Before a file is written at `path`: a folder there is damage, removed once."""
        if path.is_dir() and not path.is_symlink():
            self.report_corrupt(path, "it is a folder")

    def report_corrupt(self, path: Path, why: str) -> None:
        """Warn once about an unreadable cache file and delete it, so it is regenerated."""
        self.warn(f"cache file {path} is unreadable ({why}); it will be regenerated")
        try:
            _remove(path)
        except OSError:
            pass

    # --- entries --------------------------------------------------------------------------

    def _entry_path(self, key: str) -> Path:
        return self.base / "entries" / f"{key}.json"

    def load_entry(self, key: str) -> Entry | None:
        path = self.readable(self._entry_path(key))
        try:
            data = json.loads(read_cache_file(path).decode("utf-8"))
            entry = Entry.from_json(data)
            if entry.key != key:
                raise ValueError("it belongs to another key")
        except FileNotFoundError:
            return None
        except (IsADirectoryError, ValueError) as exc:
            self.report_corrupt(path, str(exc))
            return None
        return entry

    def drop_entry(self, entry: Entry, why: str) -> None:
        """Report `entry` as damage found only once a model looked at it (`why`), and delete
        it so that it is regenerated, unless another process has replaced it since."""
        found = self.load_entry(entry.key)
        if found is not None and found.created == entry.created:
            self.report_corrupt(self.readable(self._entry_path(entry.key)), why)

    def save_entry(self, entry: Entry) -> None:
        self.ensure()
        path = self._entry_path(entry.key)
        with cache_io(path):
            self.make_way(path)
            atomic_write_text(path, json.dumps(entry.to_json()), label="entry")
        self.enforce_limit(keep=entry.key)

    # --- KV states ------------------------------------------------------------------------

    def _state_path(self, key: str) -> Path:
        return self.base / "states" / f"{key}.kv"

    def load_state(
        self, key: str, model: str
    ) -> tuple[list[int], bytes, list[tuple[int, int]]] | None:
        """The saved (tokens, state bytes, approximate ranges) of `key`, or None. Marks it
        recently used. The approximate ranges are the token ranges whose KV a blended prefill
        reused at a new position (none in a state saved before blends existed)."""
        path = self.readable(self._state_path(key))
        try:
            tokens, data, approximate = unpack_state(read_cache_file(path), key, model)
        except FileNotFoundError:
            return None
        except (IsADirectoryError, ValueError, KeyError, struct.error) as exc:
            self.report_corrupt(path, str(exc))
            return None
        try:
            os.utime(path)  # recently used, for the size bound's LRU order
        except OSError:
            pass
        return tokens, data, approximate

    def save_state(
        self, key: str, model: str, tokens: list[int], data: bytes,
        approximate: Sequence[tuple[int, int]] = (),
    ) -> bool:
        """Persist a KV state (with its approximate ranges) unless it alone exceeds the size
        bound; evict old ones (LRU)."""
        blob = pack_state(key, model, tokens, data, approximate)
        if len(blob) > self.max_size:
            return False
        self.ensure()
        self.make_way(self._state_path(key))
        atomic_write_bytes(self._state_path(key), blob, label="state")
        self.enforce_limit(keep=key)
        return True

    def drop_state(self, key: str) -> None:
        try:
            self._state_path(key).unlink()
        except FileNotFoundError:
            pass

    # --- outputs and temporaries ---------------------------------------------------------

    @property
    def records_dir(self) -> Path:
        """Where `outputs.py` keeps its record of each output file redraft wrote."""
        return self.base / "outputs"

    def sweep_temporaries(self, key: str) -> None:
        """Remove what an interrupted write of `key`'s entry or state left (call under its lock)."""
        for path in (self._entry_path(key), self._state_path(key)):
            with cache_io(path):
                remove_temporaries(path)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
