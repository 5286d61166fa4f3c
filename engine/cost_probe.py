"""Measure what a verification window costs on this machine, once per model, and cache the fit."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .kv_session import KVSession
from .window import CostModel

PROBE_SIZES = (1, 8, 32, 64)
PROBE_CONTEXT = 96


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redraft"


def measure(session: KVSession) -> CostModel:
    """Time batched decodes of a few window sizes after a short context (best of two)."""
    filler = session.model.tokenize("The committee reviewed the quarterly figures in detail. " * 12)
    session.clear()
    session.feed(filler[:PROBE_CONTEXT], all_logits=False, phase="other")
    base = session.n_tokens
    samples = []
    for w in PROBE_SIZES:
        if w > session.n_batch:
            continue
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            session.feed(filler[:w], all_logits=True, phase="other")
            best = min(best, time.perf_counter() - t0)
            session.truncate(base)
        samples.append((w, best))
    session.clear()
    return CostModel.fit(samples)


def load_or_measure(session: KVSession, key: str, cache_dir: Path | None) -> CostModel:
    """The cached cost fit for `key`, or a fresh measurement (saved when the folder is writable)."""
    path = (cache_dir or default_cache_dir()) / f"cost-{key}.json"
    try:
        data = json.loads(path.read_text())
        return CostModel(fixed=float(data["fixed"]), per_token=float(data["per_token"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    cost = measure(session)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fixed": cost.fixed, "per_token": cost.per_token}))
        os.replace(tmp, path)
    except OSError:
        pass
    return cost
