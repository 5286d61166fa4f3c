"""Per-machine measurements of a model, taken once and kept in a calibration folder.

Two measurements: the cost of verification windows of several sizes (`cost3`), and the
batched-versus-serial logit noise (`noise1`, see noise.py). Files are named
`calibration-<what>-<key>.json` (the key names the model, the CPU kind and the context
settings) and written atomically; `calibration_files` lists them so a cache clean-up can remove
them, and `noise_files` reads the measured noise back for reports.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from .files import TEMPORARY_SUFFIX, atomic_write_bytes
from .noise import NoiseEstimate
from .window import CostModel

if TYPE_CHECKING:
    from .kv_session import KVSession

PROBE_SIZES = (1, 4, 8, 16, 32, 64, 128)
PROBE_CONTEXT = 512  # a typical prompt: attention makes serial steps dearer as it grows
PROBE_REPEATS = 3
FILE_PREFIX = "calibration-"
COST_VERSION = "cost3"
NOISE_VERSION = "noise1"


def default_calibration_dir() -> Path:
    """The user's cache folder for redraft: $XDG_CACHE_HOME/redraft, else ~/.cache/redraft."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redraft"


def calibration_files(directory: Path) -> list[Path]:
    """The calibration files in `directory`, and temporaries an interrupted write left."""
    if not directory.is_dir():
        return []
    found: list[Path] = []
    for version in (COST_VERSION, NOISE_VERSION):
        name = f"{FILE_PREFIX}{version}-*.json"
        found += [*directory.glob(name), *directory.glob(f".{name}.*{TEMPORARY_SUFFIX}")]
    return sorted(found)


def noise_files(directory: Path) -> dict[str, NoiseEstimate]:
    """The noise measured so far in `directory`, by calibration key (model fingerprint, CPU
    kind and context settings); unreadable files are left out."""
    found = {}
    prefix = f"{FILE_PREFIX}{NOISE_VERSION}-"
    for path in sorted(directory.glob(f"{prefix}*.json")) if directory.is_dir() else []:
        try:
            found[path.stem[len(prefix):]] = NoiseEstimate.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def measure_costs(session: KVSession) -> CostModel:
    """Time batched decodes of a few window sizes after a prompt-like context (best of three).

    A small context window shortens the probe's context so that every size still fits.
    """
    sizes = [w for w in PROBE_SIZES if w <= min(session.n_batch, session.n_ctx // 2)]
    context = min(PROBE_CONTEXT, session.n_ctx - max(sizes) - 1)
    filler = session.model.tokenize("The committee reviewed the quarterly figures in detail. " * 80)
    session.clear()
    session.feed(filler[:context], all_logits=False, phase="other")
    base = session.n_tokens
    if session.snapshot_mode:
        session.take_snapshot()
    samples = []
    for w in sizes:
        best = float("inf")
        for _ in range(PROBE_REPEATS):
            t0 = time.perf_counter()
            session.feed(filler[context : context + w], all_logits=True, phase="other")
            best = min(best, time.perf_counter() - t0)
            session.truncate(base)
        samples.append((w, best))
    session.clear()
    return CostModel(tuple(samples))


class Measured(Protocol):
    def to_json(self) -> dict: ...


M = TypeVar("M", bound=Measured)


def load_or_measure(
    version: str, key: str, directory: Path, read: Callable[[dict], M], measure: Callable[[], M],
    *, what: str, measuring: Callable[[str], None] | None = None,
) -> M:
    """The saved measurement `version` for `key`, or a fresh one (saved when the folder
    allows), announced first by `measuring(what)`."""
    path = directory / f"{FILE_PREFIX}{version}-{key}.json"
    try:
        return read(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if measuring is not None:
        measuring(what)
    measured = measure()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(measured.to_json()).encode())
    except OSError:
        pass  # an unwritable folder costs a new measurement next time, nothing else
    return measured


def load_or_measure_costs(
    session: KVSession, key: str, directory: Path,
    measuring: Callable[[str], None] | None = None,
) -> CostModel:
    return load_or_measure(COST_VERSION, key, directory, CostModel.from_json,
                           lambda: measure_costs(session),
                           what="timing verification windows", measuring=measuring)


def load_or_measure_noise(
    session: KVSession, key: str, directory: Path,
    measuring: Callable[[str], None] | None = None,
) -> NoiseEstimate:
    from .noise_probe import measure_noise  # numpy: only when a model is loaded

    return load_or_measure(NOISE_VERSION, key, directory, NoiseEstimate.from_json,
                           lambda: measure_noise(session),
                           what="measuring the batched-decode noise", measuring=measuring)
