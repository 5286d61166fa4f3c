"""The console entry point. Importing the CLI and building its commands take a moment; a
Ctrl-C then exits 130 like one at any later moment, without a traceback.

The process ends with os._exit once the command has its exit code, for two reasons. A
KeyboardInterrupt that passed through exec() of a source string (dataclasses and namedtuples
do that while modules import) marks the interpreter so that it kills itself with SIGINT at
exit, even when the interrupt was caught: under `python -m` the exit code would be -2, not
130. And a Ctrl-C
during the interpreter's finalization, after the work is done, would do the same. Every file
redraft writes is closed (and synced) before its command returns, so finalization has nothing
left to do for us.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

INTERRUPTED = 130  # errors.INTERRUPTED, not imported: that module is not loaded yet here


def run() -> NoReturn:
    code = _run_cli()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # the work is over
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            pass
    os._exit(code)


def _run_cli() -> int:
    try:
        from .main import run as main

        main()
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        print("redraft: interrupted", file=sys.stderr)
        return INTERRUPTED
    return 0


def _exit_code(code: object) -> int:
    """What Python's exit would make of SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
