"""A `redraft watch --json` subprocess for the tests, its events read from a queue."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.cli_env import without_redraft_vars

PATCHED_CLI = Path(__file__).parent / "patched_cli.py"
# Generous: a bound for a wedged watcher, not a performance assertion.
EVENT_TIMEOUT_S = 180


class Watcher:
    """A `redraft watch --json` subprocess whose stdout lines arrive on a queue."""

    def __init__(self, cwd, *args, env=None, patches=""):
        """`patches`: test-only patches of helpers/patched_cli.py, for a control."""
        env = without_redraft_vars(
            {"REDRAFT_MAX_TOKENS": "24", "REDRAFT_DEBOUNCE_MS": "50",
             "REDRAFT_TEST_PATCHES": patches, **(env or {})})
        cli = [str(PATCHED_CLI)] if patches else ["-m", "redraft_cli"]
        self.proc = subprocess.Popen(
            [sys.executable, *cli, "watch", *args, "--json"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line))

    def next_event(self, kind):
        """The next JSON event of `kind`, skipping others (cancellations, for instance), with
        the monotonic time it was read at under `_received`."""
        while True:
            try:
                received, line = self.lines.get(timeout=EVENT_TIMEOUT_S)
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"no {kind!r} event; stderr: {self.proc.stderr.read()}")
            event = json.loads(line)
            event["_received"] = received
            if event["event"] == kind:
                return event

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
