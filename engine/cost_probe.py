"""Measure what a verification window costs on this machine, once per model, and cache it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .kv_session import KVSession
from .window import CostModel

PROBE_SIZES = (1, 4, 8, 16, 32, 64, 128)
PROBE_CONTEXT = 512  # a typical prompt: attention makes serial steps dearer as it grows
PROBE_REPEATS = 3
CACHE_VERSION = "cost3"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redraft"


def measure(session: KVSession) -> CostModel:
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


def load_or_measure(session: KVSession, key: str, cache_dir: Path | None) -> CostModel:
    """The cached cost table for `key`, or a fresh measurement (saved when possible)."""
    path = (cache_dir or default_cache_dir()) / f"{CACHE_VERSION}-{key}.json"
    try:
        return CostModel.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    cost = measure(session)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cost.to_json()))
        os.replace(tmp, path)
    except OSError:
        pass
    return cost
