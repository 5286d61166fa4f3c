"""The console entry's exit code after a Ctrl-C (no model)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def run_helper(**env: str) -> subprocess.CompletedProcess:
    """As `python -m`: run as a script file instead, Python exits with SystemExit's code."""
    return subprocess.run([sys.executable, "-m", "helpers.interrupted_entry"], cwd=TESTS,
                          env=os.environ | env, capture_output=True, text=True, timeout=60)


def test_an_interrupt_raised_through_exec_exits_130():
    """Control: leaving through Python's exit, the interpreter kills itself with SIGINT (-2)
    because the KeyboardInterrupt passed through exec() of a string."""
    done = run_helper()
    assert done.returncode == 130, done.stderr
    assert done.stderr == "redraft: interrupted\n"

    control = run_helper(REDRAFT_TEST_EXIT_THROUGH_PYTHON="1")
    assert control.returncode == -2, control.stderr
