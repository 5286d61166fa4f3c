"""Output files: what is written, the refusal to clobber a hand edit, and the write itself.

Writing an output and recording what was written form one transaction, so that no crash can
turn redraft's own file into a false hand-edit report:

1. under the target's lock, the file is checked once more (content hash) right before it is
   replaced: a hand edit saved while the answer was being generated is never overwritten;
2. the record of the output gains the new content's hash as *pending* (fsynced);
3. the new content replaces the file atomically (temporary file, fsync, then a swap of the
   two with `renameat2`): if what the swap took out is not what step 1 checked, a hand edit
   was saved in between, and it is swapped back. Where the system cannot swap, a plain rename
   follows the check of step 1;
4. the record is committed: the new hash becomes the written one.

A file whose hash equals the written or the pending hash is redraft's own. A record lives in
the cache's `outputs/` folder, one JSON file per output path.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redraft_engine import remove_temporaries
from redraft_engine.interrupts import deferred_interrupts

from .atomic import atomic_write_bytes, atomic_write_text
from .cache import Cache
from .cache_files import cache_io, read_cache_file
from .cache_format import tagged_hash
from .errors import HandEditError, InputError
from .exchange import rename_exchange, rename_noreplace


def output_text(answer: str) -> str:
    """What an output file holds for an answer: the answer, trimmed, with one final newline."""
    return answer.strip() + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current_bytes(path: Path) -> bytes | None:
    """The output's current content, None if it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"cannot write output {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read output {path}: {exc.strerror}") from None


def _as_text(data: bytes | None) -> str | None:
    try:
        return None if data is None else data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def current_text(path: Path) -> str | None:
    """The output's current text, None if it does not exist ("" if it is not UTF-8 text)."""
    return _as_text(current_bytes(path))


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
    if not force:
        _refuse_unless_own(cache, path, current_text(path), adopt)


def _refuse_unless_own(cache: Cache, path: Path, text: str | None, adopt: str | None) -> None:
    if text is None or (adopt is not None and text == adopt):
        return
    record = load_record(cache, path)
    if record is None:
        raise HandEditError(
            f"{path} exists and redraft has no record of writing it (its cache may have been "
            "deleted); move it away to keep it, or pass --force to replace it with the answer"
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
        checked = current_bytes(real)
        current = _as_text(checked)
        if current != text and not force:  # rewriting identical content loses nothing
            _refuse_unless_own(cache, real, current, adopt)
        remove_temporaries(real)  # left by interrupted writes, like the record's below
        remove_temporaries(_record_path(cache, real))
        before = None if current is None else digest(current)  # redraft's own, as just checked
        new = digest(text)
        _save_record(cache, real, OutputRecord(before, new), "record-pending")
        data = text.encode("utf-8")
        install = os.replace if force else _install_unless_edited(path, checked, data)
        try:
            atomic_write_bytes(real, data, label="output", install=install)
        except OSError as exc:
            raise InputError(f"cannot write output {path}: {exc.strerror or exc}") from None
        _save_record(cache, real, OutputRecord(new, None), "record")


def _install_unless_edited(
    shown: Path, checked: bytes | None, data: bytes
) -> Callable[[str, Path], None]:
    """Step 3 of the transaction: put the temporary holding `data` in place of the output,
    unless the output is no longer `checked` (None: no file), what the hand-edit check saw."""

    def install(tmp: str, target: Path) -> None:
        # A Ctrl-C between the swap and its check would leave a swapped-out hand edit at the
        # temporary path, which the writer then deletes: it waits until the swap is settled.
        with deferred_interrupts():
            settle(tmp, target)

    def settle(tmp: str, target: Path) -> None:
        if checked is None:
            _move_in_new(shown, tmp, target)
            return
        try:
            swapped = rename_exchange(tmp, target)
        except FileNotFoundError:  # deleted since the check: as if there had been none
            _move_in_new(shown, tmp, target)
            return
        if not swapped:
            os.replace(tmp, target)
            return
        displaced = _read_or_none(tmp)
        if displaced in (checked, data):  # redraft's own, or already what it writes
            os.unlink(tmp)
            return
        _swap_back(shown, tmp, target, data)

    return install


def _move_in_new(shown: Path, tmp: str, target: Path) -> None:
    """Rename `tmp` to `target`, which did not exist at the check, unless one was made since."""
    try:
        if rename_noreplace(tmp, target):
            return
    except FileExistsError:
        raise HandEditError(
            f"{shown} was created while redraft was writing it; move it away to keep it, or "
            "pass --force to replace it with the answer"
        ) from None
    os.replace(tmp, target)


def _swap_back(shown: Path, tmp: str, target: Path, data: bytes) -> None:
    """A hand edit was swapped out to `tmp`: swap it back, and raise HandEditError. Whatever
    `tmp` then holds that is not `data` is kept under a name no sweep of temporaries removes."""
    try:
        rename_exchange(tmp, target)
    except OSError:
        pass  # the edit is still at `tmp`: kept below
    left = _read_or_none(tmp)
    if left is None or left == data:
        raise HandEditError(
            f"{shown} was edited while redraft was writing it; your edit is left in place: "
            "move it away to keep it, or pass --force to overwrite it"
        )
    kept = _keep(tmp, target)
    raise HandEditError(
        f"{shown} was edited while redraft was writing it; an edited version was saved as "
        f"{kept}: compare the two, then run again"
    )


def _read_or_none(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _keep(tmp: str, target: Path) -> Path:
    """`tmp` linked (or, where links are refused, moved) beside `target`, named
    `<target>.edited[.N]`."""
    n = 1
    while True:
        kept = target.with_name(f"{target.name}.edited" + ("" if n == 1 else f".{n}"))
        try:
            try:
                os.link(tmp, kept)
            except FileExistsError:
                raise
            except OSError:
                if not rename_noreplace(tmp, kept):
                    os.rename(tmp, kept)  # no renameat2: `kept` was just found free
            return kept
        except FileExistsError:
            n += 1


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
