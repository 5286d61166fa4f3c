"""The console entry point. Importing the CLI and building its commands take a moment; a
Ctrl-C then exits 130 like one at any later moment, without a traceback."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from .main import run as main

        main()
    except KeyboardInterrupt:
        print("redraft: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
