"""Per-machine measurements of a model, taken once and kept in a calibration folder.

Today this is the cost of verification windows of several sizes. Files are named
`calibration-<what>-<key>.json` and written atomically; `calibration_files` lists them so a
cache clean-up can remove them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .files import TEMPORARY_SUFFIX, atomic_write_bytes
from .window import CostModel

if TYPE_CHECKING:
    from .kv_session import KVSession

PROBE_SIZES = (1, 4, 8, 16, 32, 64, 128)
PROBE_CONTEXT = 512  # a typical prompt: attention makes serial steps dearer as it grows
PROBE_REPEATS = 3
FILE_PREFIX = "calibration-"
COST_VERSION = "cost3"


def default_calibration_dir() -> Path:
    """The user's cache folder for redraft: $XDG_CACHE_HOME/redraft, else ~/.cache/redraft."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redraft"


def calibration_files(directory: Path) -> list[Path]:
    """The calibration files in `directory`, and temporaries an interrupted write left."""
    if not directory.is_dir():
        return []
    name = f"{FILE_PREFIX}{COST_VERSION}-*.json"
    return sorted([*directory.glob(name), *directory.glob(f".{name}.*{TEMPORARY_SUFFIX}")])


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


def load_or_measure_costs(session: KVSession, key: str, directory: Path) -> CostModel:
    """The saved cost table for `key`, or a fresh measurement (saved when the folder allows)."""
    path = directory / f"{FILE_PREFIX}{COST_VERSION}-{key}.json"
    try:
        return CostModel.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    cost = measure_costs(session)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(cost.to_json()).encode())
    except OSError:
        pass  # an unwritable folder costs a new measurement next time, nothing else
    return cost
