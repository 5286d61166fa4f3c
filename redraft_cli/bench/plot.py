"""`--plot FILE`: speedup against fresh versus held fraction, one colour per category."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from redraft_cli.errors import CliError

from .arms import REDRAFT_ARMS
from .cases import CATEGORIES
from .results import CaseResult

SUFFIXES = (".png", ".svg")
MARKERS = {"exact": "o", "tolerant": "^", "blend": "s"}


def check_plot_target(path: Path) -> ModuleType:
    """Fail before any model work if the plot cannot be written; return pyplot."""
    if path.suffix.lower() not in SUFFIXES:
        raise CliError(f"--plot {path}: the file must end in .png or .svg")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError(
            "--plot needs matplotlib: pip install 'redraft[plot]' (or pip install matplotlib)"
        ) from None
    return plt


def write_plot(path: Path, results: list[CaseResult], title: str) -> None:
    plt = check_plot_target(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {cat: f"C{i}" for i, cat in enumerate(CATEGORIES)}
    for cat in CATEGORIES:
        for arm in REDRAFT_ARMS:
            points = [
                (r.arms[arm].held_fraction, r.speedup(arm, "fresh"))
                for r in results if r.category == cat
            ]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.scatter(xs, ys, c=colours[cat], marker=MARKERS[arm], alpha=0.8,
                           label=f"{cat} ({arm})")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("held fraction (tokens kept from the old answer)")
    ax.set_ylabel("speedup vs fresh (end-to-end wall time)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
