"""Where human output goes, and whether animation is allowed. Rich loads only when a console
is made, so a run with nothing to show never imports it."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def make_console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def animation_allowed(console: Console) -> bool:
    """Live animation only on an interactive terminal, and never under pre-commit or CI."""
    if os.environ.get("PRE_COMMIT") or os.environ.get("CI"):
        return False
    return console.is_terminal and not console.is_dumb_terminal


def warn(message: str) -> None:
    print(f"redraft: warning: {message}", file=sys.stderr, flush=True)
