"""Output files: what is written, the refusal to clobber a hand edit, and the write itself.

Writing an output and recording what was written form one transaction, so that no crash can
turn redraft's own file into a false hand-edit report:

1. under the target's lock, the file is checked once more (content hash) right before it is
   replaced: a hand edit saved while the answer was being generated is never overwritten;
2. the record of the output gains the new content's hash as *pending* (fsynced);
3. the new content replaces the file atomically (temporary file, fsync, rename);
4. the record is committed: the new hash becomes the written one.

A file whose hash equals the written or the pending hash is redraft's own. A record lives in
the cache's `outputs/` folder, one JSON file per output path.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from redraft_engine import remove_temporaries

from .atomic import atomic_write_bytes, atomic_write_text
from .cache import Cache, cache_io, read_cache_file, tagged_hash
from .errors import HandEditError, InputError


def output_text(answer: str) -> str:
    """What an output file holds for an answer: the answer, trimmed, with one final newline."""
    return answer.strip() + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current_text(path: Path) -> str | None:
    """The output's current text, None if it does not exist ("" if it is not UTF-8 text)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""
    except IsADirectoryError:
        raise InputError(f"cannot write output {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read output {path}: {exc.strerror}") from None


def check_writable(path: Path) -> None:
    """Fail before any model work if `path` cannot be written."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise InputError(f"cannot write output {path}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write output {path}: it is a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write output {path}: folder {folder} is not writable")


@dataclass(frozen=True)
class OutputRecord:
    """What redraft wrote to one output: the committed hash, and a pending one mid-write."""

    written: str | None = None
    pending: str | None = None

    def owns(self, text: str) -> bool:
        return digest(text) in {self.written, self.pending} - {None}


def _record_key(cache: Cache, output: Path) -> str:
    """The output's path relative to the folder that holds the cache (the project root), so
    that moving or copying the project keeps its records; absolute when outside it."""
    real = output.resolve()
    try:
        return real.relative_to(cache.path.parent.resolve()).as_posix()
    except ValueError:
        return str(real)


def _record_path(cache: Cache, output: Path) -> Path:
    return cache.records_dir / f"{tagged_hash('output', {'path': _record_key(cache, output)})}.json"


def load_record(cache: Cache, output: Path) -> OutputRecord | None:
    """The record of `output`, None if redraft has none (a damaged one is reported once)."""
    path = cache.readable(_record_path(cache, output))
    try:
        data = json.loads(read_cache_file(path).decode("utf-8"))
        written, pending = data["sha256"], data.get("pending")
        if not all(v is None or isinstance(v, str) for v in (written, pending)):
            raise ValueError("a hash is not a string")
    except FileNotFoundError:
        return None
    except (IsADirectoryError, ValueError, KeyError, TypeError) as exc:
        cache.report_corrupt(path, str(exc))
        return None
    return OutputRecord(written, pending)


def _save_record(cache: Cache, output: Path, record: OutputRecord, label: str) -> None:
    path = _record_path(cache, output)
    doc = {"path": _record_key(cache, output), "sha256": record.written,
           "pending": record.pending, "written": time.time()}
    with cache_io(path):
        cache.make_way(path)
        atomic_write_text(path, json.dumps(doc), label=label)


def guard_hand_edit(cache: Cache, path: Path, *, force: bool, adopt: str | None = None) -> None:
    """Raise HandEditError if `path` exists and is not redraft's own.

    It is redraft's own when its hash is the recorded written or pending hash, or when it
    equals `adopt` (for example the stored answer, after the record was lost).
    """
    if force:
        return
    text = current_text(path)
    if text is None or (adopt is not None and text == adopt):
        return
    record = load_record(cache, path)
    if record is None:
        raise HandEditError(
            f"{path} exists but redraft did not write it; move it away to keep it, or pass "
            "--force to replace it with the answer"
        )
    if not record.owns(text):
        raise HandEditError(
            f"{path} was edited since redraft last wrote it; keep your edit by moving it "
            "away, or pass --force to overwrite it"
        )


def write_output(
    cache: Cache, path: Path, text: str, *, force: bool, adopt: str | None = None
) -> None:
    """Replace `path` with `text` as one transaction (see the module docstring).

    Call it under the target's lock; it also takes the output's own lock, since two targets
    (or `--out` options) may name one file. A symbolic link is written through.
    """
    real = path.resolve()
    with cache.lock("output-" + _record_path(cache, real).stem, timeout=cache.lock_timeout,
                    what=str(path)):
        current = current_text(real)
        if current != text:  # rewriting identical content loses nothing
            guard_hand_edit(cache, real, force=force, adopt=adopt)
        remove_temporaries(real)  # left by interrupted writes, like the record's below
        remove_temporaries(_record_path(cache, real))
        before = None if current is None else digest(current)  # redraft's own, as just checked
        new = digest(text)
        _save_record(cache, real, OutputRecord(before, new), "record-pending")
        try:
            atomic_write_bytes(real, text.encode("utf-8"), label="output")
        except OSError as exc:
            raise InputError(f"cannot write output {path}: {exc.strerror or exc}") from None
        _save_record(cache, real, OutputRecord(new, None), "record")


def prune_records(cache: Cache) -> int:
    """Forget the outputs that no longer exist (and damaged records); return how many."""
    root = cache.path.parent.resolve()
    pruned = 0
    for path in cache.records_dir.glob("*.json"):
        try:
            if (root / json.loads(path.read_text("utf-8"))["path"]).exists():
                continue
        except (OSError, ValueError, KeyError, TypeError):
            pass
        path.unlink(missing_ok=True)
        pruned += 1
    return pruned
