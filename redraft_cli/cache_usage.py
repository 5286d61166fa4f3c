"""The `.redraft/` cache's size: its bound (LRU), what it holds (info), and clearing it.

The size bound deletes the least recently used KV states, then entries, until the cache's
total fits (a KV state is marked used when it is loaded). info() gives the figures `redraft
cache info` shows, and clear() deletes what `redraft cache clear` removes. CacheUsage holds
these methods; it is a base class of cache.Cache, which sets the folder (path), the current
layout's folder in it (base) and the bound (max_size).
"""

from __future__ import annotations

import contextlib
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from redraft_engine import TEMPORARY_SUFFIX

from .cache_files import _remove
from .cache_format import LAYOUT, PREVIOUS_LAYOUT

STALE_TEMPORARY_S = 60.0


class CacheUsage:
    """Size bound, info and clear of a cache folder (mixed into cache.Cache)."""

    path: Path
    base: Path
    max_size: int

    def _files(self, sub: str, layout: str = LAYOUT) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of the regular files of `sub`, oldest first. Temporaries of
        writes in progress (dot files) are not counted."""
        found = []
        for path in (self.path / layout / sub).glob("[!.]*"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((st.st_mtime, st.st_size, path))
        return sorted(found)

    def enforce_limit(self, keep: str | None = None) -> None:
        """Delete least recently used KV states, then entries, until the total fits."""
        groups = [self._files("states"), self._files("entries")]
        total = sum(size for group in groups for _, size, _ in group)
        for group in groups:
            for _, size, path in group:
                if total <= self.max_size:
                    return
                if path.stem == keep:
                    continue
                try:
                    path.unlink()
                    total -= size
                except FileNotFoundError:
                    pass

    def info(self) -> dict[str, Any]:
        entries, states, outputs = (self._files(s) for s in ("entries", "states", "outputs"))
        others = sorted(
            p.name for p in self.path.glob("v*") if p.is_dir() and p.name != LAYOUT
        ) if self.path.is_dir() else []
        return {
            "path": str(self.path),
            "layout": LAYOUT,
            "exists": self.base.is_dir(),
            "entries": len(entries),
            "states": len(states),
            "outputs": len(outputs),
            "size_bytes": sum(s for group in (entries, states, outputs) for _, s, _ in group),
            "max_size_bytes": self.max_size,
            "other_layouts": others,
        }

    def clear(self, *, everything: bool = False) -> int:
        """Delete answers and KV states (and, with `everything`, other layouts). Returns the
        number of files removed. Locks stay: a running process may hold one. The records of
        the outputs redraft wrote stay too: without them every existing output would look
        like a hand edit (see outputs.prune_records)."""
        removed = 0
        for sub in ("entries", "states"):
            # The previous layout's answers too: they would otherwise be read in their place.
            for _, _, path in self._files(sub) + self._files(sub, PREVIOUS_LAYOUT):
                path.unlink(missing_ok=True)
                removed += 1
        stale = time.time() - STALE_TEMPORARY_S  # younger ones may belong to a running write
        for sub in ("entries", "states", "outputs"):
            for tmp in (self.base / sub).glob(f".*{TEMPORARY_SUFFIX}"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < stale:
                        _remove(tmp)
                        removed += 1
        if everything and self.path.is_dir():
            for other in self.path.glob("v*"):
                if other.is_dir() and other.name != LAYOUT:
                    removed += sum(1 for p in other.rglob("*") if p.is_file())
                    shutil.rmtree(other, ignore_errors=True)
        return removed
