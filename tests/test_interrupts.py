"""Ctrl-C inside a native call that calls back into Python (pure: a ctypes callback, no model)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import pytest
from redraft_engine.interrupts import deferred_interrupts, interrupt_pending

CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)


def native_call_with_callback(*, polls: list[bool]) -> int:
    """A C function (libc's qsort) calling back into Python, as llama.cpp's log does: the
    first comparison sends SIGINT to this process."""

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    def compare(a, b):
        if not polls:
            os.kill(os.getpid(), signal.SIGINT)
        polls.append(interrupt_pending())
        x = ctypes.cast(a, ctypes.POINTER(ctypes.c_int)).contents.value
        y = ctypes.cast(b, ctypes.POINTER(ctypes.c_int)).contents.value
        return (x > y) - (x < y)

    values = (ctypes.c_int * 4)(4, 3, 2, 1)
    libc = ctypes.CDLL(None)
    libc.qsort(values, 4, ctypes.sizeof(ctypes.c_int), compare)
    return list(values)[0]


def test_a_sigint_during_a_callback_is_noted_then_raised_after_the_native_call():
    polls: list[bool] = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            assert native_call_with_callback(polls=polls) == 1  # the call itself completes
            assert interrupt_pending()
    assert polls[-1] and not interrupt_pending()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_control_without_the_deferral_the_sigint_is_lost_inside_the_callback(monkeypatch):
    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)
    native_call_with_callback(polls=[])  # returns: no KeyboardInterrupt reaches the caller
    assert dropped and all(isinstance(d.exc_value, KeyboardInterrupt) for d in dropped)


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            assert not interrupt_pending()
    finally:
        signal.signal(signal.SIGINT, previous)
