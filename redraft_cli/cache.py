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
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redraft_engine import TEMPORARY_SUFFIX, Stats, remove_temporaries

from .atomic import atomic_write_bytes, atomic_write_text
from .errors import CliError
from .locking import exclusive_lock
from .outcome import Mode

if TYPE_CHECKING:
    from .config import Config

LAYOUT = "v2"
PREVIOUS_LAYOUT = "v1"
KEY_SCHEME = "v1"  # keys are unchanged since v1, so the previous layout's files are found
_STATE_MAGIC = b"RDKV1\0"


def _ranges(raw: Any, n_tokens: int) -> list[tuple[int, int]]:
    """Approximate ranges [start, end) read from a state header; ValueError if malformed."""
    if not isinstance(raw, list):
        raise ValueError("approximate ranges must be a list")
    out = []
    for item in raw:
        ok = (isinstance(item, list) and len(item) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in item))
        if not ok or not 0 <= item[0] < item[1] <= n_tokens:
            raise ValueError(f"bad approximate range {item!r}")
        out.append((item[0], item[1]))
    return out


STALE_TEMPORARY_S = 60.0
SUBFOLDERS = ("entries", "states", "outputs", "locks")
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by redraft.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def tagged_hash(tag: str, fields: dict[str, Any]) -> str:
    """A hash of `fields` under a domain tag, so keys of different kinds can never collide."""
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"redraft/{KEY_SCHEME}/{tag}\0{payload}".encode()).hexdigest()[:32]


def entry_key(*, model: str, template: str, settings: dict[str, Any], source: str) -> str:
    """Key of a target's entry: model fingerprint, task template, answer settings, source path."""
    return tagged_hash(
        "entry", {"model": model, "template": template, "settings": settings, "source": source}
    )


@dataclass
class Entry:
    """The last complete answer for one key."""

    key: str
    source: str
    source_sha256: str
    task: str
    template: str
    settings: dict[str, Any]
    model: str
    prompt: str
    prompt_tokens: list[int]
    answer: str
    answer_tokens: list[int]
    stats: Stats
    mode: Mode
    created: float = field(default_factory=time.time)
    answer_margins: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["stats"] = self.stats.to_dict()
        doc["mode"] = self.mode.value
        return doc

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        """Parse an entry; ValueError if a field is missing or has the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        checks: dict[str, type | tuple[type, ...]] = {
            "key": str, "source": str, "source_sha256": str, "task": str, "template": str,
            "settings": dict, "model": str, "prompt": str, "prompt_tokens": list, "answer": str,
            "answer_tokens": list, "stats": dict, "mode": str, "created": (int, float),
        }
        for name, kind in checks.items():
            if name not in data:
                raise ValueError(f"field {name!r} is missing")
            if not isinstance(data[name], kind):
                raise ValueError(f"field {name!r} has the wrong type")
        unknown = set(data) - set(checks) - {"answer_margins"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        if not all(isinstance(t, int) for t in data["answer_tokens"] + data["prompt_tokens"]):
            raise ValueError("token lists must hold integers")
        margins = data.get("answer_margins")
        if margins is not None and not (
            isinstance(margins, list) and len(margins) == len(data["answer_tokens"])
            and all(isinstance(m, (int, float)) and not isinstance(m, bool) for m in margins)
        ):
            raise ValueError("answer_margins must be one number per answer token")
        return cls(**{**data, "stats": Stats.from_dict(data["stats"]), "mode": Mode(data["mode"])})


def open_cache(config: Config) -> Cache:
    """The project's cache as the config sets it, warning on stderr about corrupt files."""
    from .console import warn

    settings = config.settings
    return Cache(config.cache_dir, max_size=settings.cache_max_size, warn=warn,
                 lock_timeout=settings.lock_timeout)


class Cache:
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
            raw = read_cache_file(path)
            if not raw.startswith(_STATE_MAGIC):
                raise ValueError("bad header")
            offset = len(_STATE_MAGIC)
            (n,) = struct.unpack_from("<I", raw, offset)
            header = json.loads(raw[offset + 4 : offset + 4 + n])
            data = raw[offset + 4 + n :]
            if not isinstance(header, dict):
                raise ValueError("the header is not a JSON object")
            if header.get("key") != key or header.get("model") != model:
                raise ValueError("it belongs to another key or model")
            tokens = header["tokens"]
            if not isinstance(tokens, list) or not data:
                raise ValueError("no tokens or no data")
            if not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
                raise ValueError("tokens must be integers")
            approximate = _ranges(header.get("approximate", []), len(tokens))
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
        header = json.dumps({"key": key, "model": model, "tokens": tokens,
                             "approximate": [list(r) for r in approximate]}).encode()
        blob = _STATE_MAGIC + struct.pack("<I", len(header)) + header + data
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

    # --- size bound, info, clear ----------------------------------------------------------

    def _files(self, sub: str, layout: str = LAYOUT) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of the regular files of `sub`, oldest first. Temporaries of
        writes in progress (dot files) are not counted."""
        found = []
        for path in (self.path / layout / sub).glob("[!.]*"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((st.st_mtime, st.st_size, path))
        return sorted(found)

    def enforce_limit(self, keep: str | None = None) -> None:
        """Delete least recently used KV states, then entries, until the total fits."""
        groups = [self._files("states"), self._files("entries")]
        total = sum(size for group in groups for _, size, _ in group)
        for group in groups:
            for _, size, path in group:
                if total <= self.max_size:
                    return
                if path.stem == keep:
                    continue
                try:
                    path.unlink()
                    total -= size
                except FileNotFoundError:
                    pass

    def info(self) -> dict[str, Any]:
        entries, states, outputs = (self._files(s) for s in ("entries", "states", "outputs"))
        others = sorted(
            p.name for p in self.path.glob("v*") if p.is_dir() and p.name != LAYOUT
        ) if self.path.is_dir() else []
        return {
            "path": str(self.path),
            "layout": LAYOUT,
            "exists": self.base.is_dir(),
            "entries": len(entries),
            "states": len(states),
            "outputs": len(outputs),
            "size_bytes": sum(s for group in (entries, states, outputs) for _, s, _ in group),
            "max_size_bytes": self.max_size,
            "other_layouts": others,
        }

    def clear(self, *, everything: bool = False) -> int:
        """Delete answers and KV states (and, with `everything`, other layouts). Returns the
        number of files removed. Locks stay: a running process may hold one. The records of
        the outputs redraft wrote stay too: without them every existing output would look
        like a hand edit (see outputs.prune_records)."""
        removed = 0
        for sub in ("entries", "states"):
            # The previous layout's answers too: they would otherwise be read in their place.
            for _, _, path in self._files(sub) + self._files(sub, PREVIOUS_LAYOUT):
                path.unlink(missing_ok=True)
                removed += 1
        stale = time.time() - STALE_TEMPORARY_S  # younger ones may belong to a running write
        for sub in ("entries", "states", "outputs"):
            for tmp in (self.base / sub).glob(f".*{TEMPORARY_SUFFIX}"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < stale:
                        _remove(tmp)
                        removed += 1
        if everything and self.path.is_dir():
            for other in self.path.glob("v*"):
                if other.is_dir() and other.name != LAYOUT:
                    removed += sum(1 for p in other.rglob("*") if p.is_file())
                    shutil.rmtree(other, ignore_errors=True)
        return removed


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


class CacheError(CliError):
    """The cache cannot be read or written (exit 2); the message names the path and a fix."""


_NO_ACCESS = {errno.EROFS, errno.EACCES, errno.EPERM}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_ELSEWHERE = "set cache_dir (REDRAFT_CACHE_DIR)"


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


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
