"""`redraft serve`: check the settings, bind the port, then run uvicorn with the app while the
engine loads on its own thread.

Everything a user can get wrong (a public address without a key, a port in use, a missing
model) is refused with one line before the model loads. SIGTERM and Ctrl-C cancel the work in
progress and end the server with exit code 0.
"""

from __future__ import annotations

import errno
import getpass
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config import Config, Settings
from ..errors import CliError, ConfigError
from .keys import hash_key

if TYPE_CHECKING:
    from redraft_engine import Engine, ModelFile

API_KEY_ENV = "REDRAFT_API_KEY"
GRACEFUL_SHUTDOWN_S = 5  # answers are cancelled at once; this bounds idle keep-alive clients


def key_digest() -> str:
    """The SHA-256 hex digest of a key read from stdin (typed without echo on a terminal)."""
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise CliError("no key on stdin: pipe one in, e.g. `echo \"$KEY\" | redraft serve "
                       "--hash-key`")
    return hash_key(key)


def key_hashes(settings: Settings, env: Mapping[str, str]) -> frozenset[str]:
    """The accepted keys' digests: api_key_sha256, plus REDRAFT_API_KEY given in clear."""
    digests = set(settings.api_key_sha256)
    clear = env.get(API_KEY_ENV, "").strip()
    if clear:
        digests.add(hash_key(clear))
    return frozenset(digests)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port`, or one line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"port {port} on {host} is already in use: stop what listens "
                           "there or choose another with --port") from None
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve_command(config: Config) -> int:
    settings = config.settings.with_prompt_reuse("exact")
    hashes = key_hashes(settings, os.environ)
    if not hashes and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} without an API key: anyone who can reach "
            f"it could use the model. Set {API_KEY_ENV}, or api_key_sha256 in redraft.toml "
            "(digest from `redraft serve --hash-key`), or listen on 127.0.0.1")

    from ..engine_access import Models

    model = Models().identify(settings)  # a missing or broken model file is refused here
    sock = bind(settings.host, settings.port)

    import uvicorn

    from .app import create_app
    from .options import ServeOptions
    from .prompt_states import PromptStates
    from .server import StoppingServer
    from .worker import EngineWorker

    worker = EngineWorker(lambda: load(settings, model),
                          queue_size=settings.queue_size,
                          prompt_states=PromptStates(settings.prompt_states,
                                                     settings.prompt_states_size))
    options = ServeOptions(
        model_id=model.path.stem, max_tokens=settings.max_tokens, rule=settings.rule,
        prompt_reuse=settings.prompt_reuse, max_body=settings.max_body,
        max_sessions=settings.max_sessions, key_hashes=hashes)
    app = create_app(worker, options)
    server = StoppingServer(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S), worker)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"redraft serve: listening on http://{host}:{settings.port} (model "
          f"{options.model_id}; Ctrl-C stops)", file=sys.stderr, flush=True)
    previous = quiet_signals()
    try:
        server.run(sockets=[sock])
    finally:
        restore_signals(previous)
        worker.close()
        sock.close()
    return 0


def load(settings: Settings, model: ModelFile) -> Engine:
    from ..engine_access import calibration_notice, load_engine

    def show(line: str) -> None:
        print(f"redraft serve: {line}", file=sys.stderr, flush=True)

    return load_engine(settings, model, calibration_notice(show))


def quiet_signals() -> dict[int, Any]:
    """uvicorn raises the SIGINT or SIGTERM that stopped it again once it has stopped, to the
    handler that was in place before it: make that handler a no-op, so the server's end is a
    clean exit 0 rather than a KeyboardInterrupt or death by SIGTERM."""
    return {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}


def restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
