"""Helpers shared by the CLI tests: a clean REDRAFT_* environment and a lock held elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PREFIX = "REDRAFT_"


def without_redraft_vars(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment less every REDRAFT_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    return env | (extra or {})


def isolate_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str] | None = None) -> None:
    """Remove every REDRAFT_* variable for the test, then set `values`."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in (values or {}).items():
        monkeypatch.setenv(name, value)


@contextmanager
def lock_held_elsewhere(lock: Path) -> Iterator[None]:
    """Another process holds `lock` (redraft's own flock) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from pathlib import Path; from redraft_cli.locking import exclusive_lock\n"
         f"with exclusive_lock(Path({str(lock)!r}), timeout=5, what='x'):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


def interrupted(*_args: object, **_kwargs: object) -> None:
    """A stand-in for any step of a run: the user pressed Ctrl-C there."""
    raise KeyboardInterrupt
