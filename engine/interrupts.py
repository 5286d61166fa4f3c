"""Ctrl-C while llama.cpp runs.

llama.cpp calls back into Python while it loads a model or decodes (its log, the load
progress, the abort check). Python runs a pending SIGINT handler at the first Python code it
meets, so a KeyboardInterrupt would be raised inside such a callback, where ctypes prints it
and drops it: the Ctrl-C is lost. Inside `deferred_interrupts()` a SIGINT is only noted; native
code polls `interrupt_pending()` to stop early (a load's progress callback returns False, a
decode's abort callback True), and the interrupt is delivered as usual once the section ends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_noted: list[list[int]] = []  # one list of noted signals per active section (at most one)


def interrupt_pending() -> bool:
    """Has a SIGINT arrived inside the active deferred section?"""
    return bool(_noted and _noted[-1])


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Note SIGINT instead of raising it until the block ends, then deliver it to the handler
    that was in place (KeyboardInterrupt by default). Outside the main thread, or nested,
    the block runs as it is: only the main thread receives signals."""
    if _noted or threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        noted.append(signum)

    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        # Ignored: nothing to deliver. None: a handler set outside Python, which signal.signal
        # could not put back.
        yield
        return
    previous = signal.signal(signal.SIGINT, note)
    _noted.append(noted)
    try:
        yield
    finally:
        _noted.pop()
        signal.signal(signal.SIGINT, previous)
        if noted:
            _deliver(previous)


def _deliver(handler: Any) -> None:
    if callable(handler):
        handler(signal.SIGINT, None)
    else:  # SIG_DFL: end as the signal would have ended the process
        os.kill(os.getpid(), signal.SIGINT)
