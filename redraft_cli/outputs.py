"""Output files: the text written, and the refusal to clobber an output edited by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .atomic import atomic_write_text
from .cache import Cache
from .errors import HandEditError, InputError


def output_text(answer: str) -> str:
    """What an output file holds for an answer: the answer, trimmed, with one final newline."""
    return answer.strip() + "\n"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def current_text(path: Path) -> str | None:
    """The output's current text, None if it does not exist (or is not text)."""
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


def guard_hand_edit(cache: Cache, path: Path, *, force: bool, adopt: str | None = None) -> None:
    """Raise HandEditError if `path` exists and is not what redraft last wrote there.

    `adopt`: text that redraft would write; an existing file equal to it is redraft's too
    (for example after the cache's record of outputs was cleared).
    """
    if force:
        return
    text = current_text(path)
    if text is None or (adopt is not None and text == adopt):
        return
    written = cache.written_hash(path)
    if written is None:
        raise HandEditError(
            f"{path} exists but redraft did not write it; move it away or pass --force"
        )
    if _digest(text.encode("utf-8")) != written:
        raise HandEditError(
            f"{path} was edited since redraft last wrote it; keep your edit by moving it "
            "away, or pass --force to overwrite it"
        )


def check_writable(path: Path) -> None:
    """Fail before any model work if `path` cannot be written (its folder is missing)."""
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"cannot write output {path}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write output {path}: it is a directory")


def write_output(cache: Cache, path: Path, text: str) -> None:
    """Write `text` atomically and remember its hash, to recognise hand edits later."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise InputError(f"cannot write output {path}: {exc.strerror or exc}") from None
    cache.record_written(path, _digest(text.encode("utf-8")))
