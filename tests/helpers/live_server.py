"""`redraft serve` in a subprocess for the HTTP tests: started on a free port, ready once
/health says ok, stopped with SIGTERM (which must end it with exit code 0)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers.cli_env import without_redraft_vars

# One decoding thread, as the other CLI tests use: the calibration measured for it is shared.
SERVER_ENV: dict[str, str] = {}
STOP_TIMEOUT = 20.0


@dataclass
class Server:
    base_url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server printed on stderr (and stdout) so far."""
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict | None:
        """/health's JSON, or None when it does not answer 200."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as reply:
                return json.loads(reply.read())
        except (OSError, ValueError):
            return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(cwd: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> Iterator[Server]:
    """`redraft serve --port <free> ARGS` run in `cwd` with only the REDRAFT_* variables of
    SERVER_ENV and `env`; yields once /health is ok (`timeout` seconds at most). Leaving the
    block sends SIGTERM and, when the block itself did not fail, asserts exit code 0."""
    port = free_port()
    log_path = cwd / f"serve-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "redraft_cli", "serve", "--port", str(port), *args],
            cwd=cwd, env=without_redraft_vars(SERVER_ENV | (env or {})),
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, proc, log_path)
    try:
        _wait_until_healthy(server, timeout)
    except BaseException:
        _stop(proc)
        raise
    failed = True
    try:
        yield server
        failed = False
    finally:
        code = _stop(proc)
        if not failed:
            assert code == 0, f"redraft serve exited {code} on SIGTERM:\n{server.log()}"


def _wait_until_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"redraft serve exited {server.proc.returncode} before it "
                                 f"was ready:\n{server.log()}")
        health = server.health()
        if health is not None and health.get("status") == "ok":
            return
        time.sleep(0.1)
    raise AssertionError(f"redraft serve was not ready within {timeout} s:\n{server.log()}")


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT; the exit code it gave
    on SIGTERM (None when it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
