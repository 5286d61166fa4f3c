"""The two servers of benchmarks/serve_peer.py as child processes (`redraft serve` and
llama-cpp-python's `llama_cpp.server`, each on a free 127.0.0.1 port, started until ready and
always stopped), and what the client asks them over HTTP besides the requests measured: their
health, when the engine is idle again, and an `openai` client for each."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai

HOST = "127.0.0.1"
READY_TIMEOUT_S = 600.0  # a first load on a new CPU calibrates the model (minutes on Gemma)
STOP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 300.0
IDLE_TIMEOUT_S = 30.0
POLL_S = 0.005
SETTLE_S = 0.1  # between requests: lets the previous server's threads go idle


# --- server processes -------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This environment less REDRAFT_* settings, so that only the flags decide."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REDRAFT_")}


def peer_command(model: Path, threads: int, n_ctx: int, port: int,
                 chat_format: str | None, cache: str = "ram") -> list[str]:
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--n_ctx", str(n_ctx), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--host", HOST, "--port", str(port),
               "--verbose", "false"]
    if cache == "ram":
        command += ["--cache", "true", "--cache_type", "ram"]
    if chat_format:
        command += ["--chat_format", chat_format]
    return command


def redraft_command(model: Path, threads: int, n_ctx: int, port: int, max_tokens: int,
                    queue_size: int | None) -> list[str]:
    command = [sys.executable, "-m", "redraft_cli", "serve", "--port", str(port),
               "--model", str(model), "--threads", str(threads), "--n-ctx", str(n_ctx),
               "--max-tokens", str(max_tokens)]
    if queue_size is not None:
        command += ["--queue-size", str(queue_size)]
    return command


@contextlib.contextmanager
def running(name: str, command: list[str], ready: Callable[[Server], bool],
            logs: Path) -> Iterator[Server]:
    """Start `command`, yield once `ready` says so, and always stop it (SIGTERM, then kill)."""
    port = int(command[command.index("--port") + 1])
    log_path = logs / f"{name}-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, cwd=logs, env=clean_env(), stdout=log_file,
                                stderr=subprocess.STDOUT)
    server = Server(name, proc, port, log_path)
    try:
        wait_ready(server, ready)
        yield server
    finally:
        stop(proc)


def wait_ready(server: Server, ready: Callable[[Server], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited {server.proc.returncode} before it was "
                               f"ready:\n{server.log_tail()}")
        if ready(server):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} was not ready in {READY_TIMEOUT_S:.0f} s:\n"
                       f"{server.log_tail()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)


def start_peer(args: argparse.Namespace, logs: Path) -> contextlib.AbstractContextManager[Server]:
    command = peer_command(args.model_path, args.threads, args.n_ctx, free_port(),
                           args.peer_chat_format, args.peer_cache)
    return running("peer", command, lambda s: get_json(f"{s.url}/v1/models") is not None, logs)


def start_redraft(args: argparse.Namespace, logs: Path, max_tokens: int,
                  queue_size: int | None = None) -> contextlib.AbstractContextManager[Server]:
    command = redraft_command(args.model_path, args.threads, args.n_ctx, free_port(),
                              max_tokens, queue_size)
    return running("redraft", command, lambda s: health(s).get("status") == "ok", logs)


# --- HTTP -------------------------------------------------------------------------------

# No proxies, whatever the environment says: all traffic stays on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The JSON of a 200 answer; None for any other answer or none."""
    try:
        with _OPENER.open(url, timeout=timeout) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def health(server: Server) -> dict[str, Any]:
    return get_json(f"{server.url}/health") or {}


def wait_idle(server: Server, timeout: float = IDLE_TIMEOUT_S) -> float | None:
    """Seconds until /health says nothing is queued or running (None: not within timeout)."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if health(server).get("queued") == 0:
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    return None


def client_for(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0,
                         timeout=REQUEST_TIMEOUT_S,
                         http_client=httpx2.Client(trust_env=False, timeout=REQUEST_TIMEOUT_S))


# --- between requests -------------------------------------------------------------------


def pause() -> None:
    time.sleep(SETTLE_S)


def settle(server: Server) -> None:
    """Wait until the redraft server's engine is free (it keeps the KV state after the answer
    went out), then a short pause."""
    if wait_idle(server) is None:
        raise RuntimeError(f"redraft serve still busy {IDLE_TIMEOUT_S:.0f} s after an answer")
    pause()
