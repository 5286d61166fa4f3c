"""Run the console entry (redraft_cli.entry.run) on a command that is interrupted inside
exec() of a source string, as a Ctrl-C that arrives while a dataclass is being built.

With REDRAFT_TEST_EXIT_THROUGH_PYTHON=1 the entry ends through Python's own exit instead of
os._exit, SIGINT not blocked (the control).
"""

from __future__ import annotations

import os
import sys

from redraft_cli import entry, main


def interrupted_command() -> None:
    exec("raise KeyboardInterrupt")


main.run = interrupted_command  # type: ignore[assignment]
if os.environ.get("REDRAFT_TEST_EXIT_THROUGH_PYTHON") == "1":
    entry.os._exit = sys.exit  # type: ignore[assignment]
    entry.signal.pthread_sigmask = lambda how, mask: set()  # type: ignore[assignment]
entry.run()
