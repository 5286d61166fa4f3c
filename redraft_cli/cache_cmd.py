"""`redraft cache info` and `redraft cache clear`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from redraft_engine import calibration_files

from .cache import Cache
from .outputs import prune_records

if TYPE_CHECKING:
    from rich.console import Console


def _size(n_bytes: int) -> str:
    n = float(n_bytes)
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cache_info(cache: Cache, *, as_json: bool, console: Console) -> None:
    info = cache.info()
    if as_json:
        from .json_out import emit

        emit(info)
        return
    if not info["exists"]:
        console.print(f"{info['path']}: no cache yet (layout {info['layout']})", markup=False)
        return
    console.print(
        f"{info['path']} (layout {info['layout']}): {info['entries']} answers, "
        f"{info['states']} KV states, {info['outputs']} outputs recorded; "
        f"{_size(info['size_bytes'])} of {_size(info['max_size_bytes'])}",
        markup=False,
    )
    if info["other_layouts"]:
        console.print(f"other layouts present: {', '.join(info['other_layouts'])} "
                      "(remove with `redraft cache clear --all`)", markup=False)


def cache_clear(
    cache: Cache, *, everything: bool, calibration_dir: Path, console: Console
) -> None:
    removed = cache.clear(everything=everything)
    if everything:
        removed += prune_records(cache)
    console.print(f"removed {removed} files from {cache.path}", markup=False)
    if everything:
        files = calibration_files(calibration_dir)
        for path in files:
            path.unlink(missing_ok=True)
        console.print(f"removed {len(files)} calibration files from {calibration_dir}",
                      markup=False)
