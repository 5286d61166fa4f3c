"""Reading a source document, with one clear error for each way it can be unusable."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import InputError

_SNIFF = 8192


def read_document(path: Path) -> str:
    """The UTF-8 text of `path`; InputError if it is missing, a folder, binary or empty."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\0" in data[:_SNIFF]:
        raise InputError(f"{path}: looks like a binary file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise InputError(f"{path}: is empty; there is nothing to answer")
    return text.removeprefix("\ufeff")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
