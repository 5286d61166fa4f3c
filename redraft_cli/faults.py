"""Test-only fault injection: cut a write sequence at a named point.

With REDRAFT_CRASH_AT=<point> (for example `output:renamed`), the process sends itself
SIGKILL when it reaches that point; `<point>@SIGINT` sends SIGINT instead (a Ctrl-C), and
`<point>@SIGSTOP` pauses it there until a test sends SIGCONT. Unset, each check is one
dictionary lookup. The write points are listed in CRASH_POINTS; `answer:ready` is reached by
`redraft run` once an answer is decoded and before its output is written.

With REDRAFT_NO_RENAME_EXCHANGE=1, redraft acts as on a system without `renameat2` (see
exchange.py): outputs are replaced with a plain rename after the hand-edit check.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "REDRAFT_CRASH_AT"
NO_EXCHANGE_VAR = "REDRAFT_NO_RENAME_EXCHANGE"
WRITE_STEPS = ("tmp-written", "tmp-synced", "renamed")
# label:step for every atomic write of a run, in the order a fresh answer reaches them.
CRASH_POINTS = tuple(
    f"{label}:{step}" for label in ("record-pending", "output", "record", "entry", "state")
    for step in WRITE_STEPS
)


def crash_point(name: str) -> None:
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    point, _, sig = spec.partition("@")
    if point == name:
        os.kill(os.getpid(), getattr(signal, sig or "SIGKILL"))


def rename_exchange_disabled() -> bool:
    return os.environ.get(NO_EXCHANGE_VAR) == "1"
