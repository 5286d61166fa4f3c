"""Where human and machine output go, and whether animation is allowed."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console


def make_console(*, stderr: bool) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def animation_allowed(console: Console) -> bool:
    """Live animation only on an interactive terminal, and never under pre-commit or CI."""
    if os.environ.get("PRE_COMMIT") or os.environ.get("CI"):
        return False
    return console.is_terminal and not console.is_dumb_terminal


def warn(message: str) -> None:
    print(f"redraft: warning: {message}", file=sys.stderr, flush=True)


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON object on one line of stdout, flushed so a reader sees it at once."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
