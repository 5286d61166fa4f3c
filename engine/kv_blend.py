"""Carry out a `BlendPlan` on a llama.cpp KV cache: move kept cells, decode the rest.

Positions must grow within a llama.cpp sequence, so an edited span that lies before kept cells
cannot be decoded into sequence 0 directly. Each such span is decoded in a scratch sequence that
shares the cells before it (`llama_memory_seq_cp` on a unified cache copies no data), and its
cells are then added to sequence 0. Kept runs are first parked past every old and new position,
then moved to their new positions one by one, so that no move lands on cells not moved yet;
llama.cpp accumulates the shifts and rotates each key once, at the next decode.

A sliding-window cache reuses a cell of one sequence as soon as that sequence's newest position
masks it, whether or not the cache is full size. Decoding out of position order would let it
drop cells a later span still attends to, so every cell of the sequence is also given to a
guard sequence for the duration: a cell of two sequences is never reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .blend_plan import BlendPlan, Span
from .llama_backend import lib


class BlendedSession(Protocol):
    """What a blend needs of a KV session (kv_session.KVSession is one)."""

    mem: Any
    tokens: list[int]
    approximate: tuple[Span, ...]
    n_batch: int

    def decode_into(
        self, tokens: Sequence[int], *, seq: int, start: int, logits: bool = False
    ) -> None: ...

    def feed(self, tokens: Sequence[int], *, all_logits: bool, phase: str) -> np.ndarray: ...

    def last_row(self) -> np.ndarray: ...

SEQ = 0  # the sequence a KV session holds its tokens in
SCRATCH = 1
GUARD = 2


def apply_plan(
    session: BlendedSession, prompt: Sequence[int], plan: BlendPlan, seq: int
) -> np.ndarray:
    """Make `session` hold `prompt` as `plan` says; return the logits after its last token."""
    L = lib()
    mem = session.mem
    pos = plan.prefix
    for k in plan.keep:
        if k.old_start > pos:
            L.llama_memory_seq_rm(mem, seq, pos, k.old_start)
        pos = k.old_start + k.length
    L.llama_memory_seq_rm(mem, seq, pos, -1)
    if plan.keep:
        park = len(session.tokens) + len(prompt) + 1
        L.llama_memory_seq_add(mem, seq, plan.prefix, -1, park)
        for k in plan.keep:
            L.llama_memory_seq_add(mem, seq, k.old_start + park, k.old_start + k.length + park,
                                   k.shift - park)
    del session.tokens[plan.prefix :]
    session.approximate = tuple(
        (s, min(e, plan.prefix)) for s, e in session.approximate if s < plan.prefix)
    L.llama_memory_seq_cp(mem, seq, GUARD, -1, -1)
    try:
        for start, end in plan.decode[:-1]:
            L.llama_memory_seq_rm(mem, SCRATCH, -1, -1)
            L.llama_memory_seq_cp(mem, seq, SCRATCH, 0, start)
            for i in range(start, end, session.n_batch):
                chunk = list(prompt[i : min(end, i + session.n_batch)])
                session.decode_into(chunk, seq=SCRATCH, start=i)
            L.llama_memory_seq_cp(mem, SCRATCH, seq, start, end)
            L.llama_memory_seq_cp(mem, SCRATCH, GUARD, start, end)
        L.llama_memory_seq_rm(mem, SCRATCH, -1, -1)
        last_start = plan.decode[-1][0]
        session.tokens = list(prompt[:last_start])
        # Kept true if the tail's decode is stopped: what the cache holds shifted so far.
        session.approximate = tuple(
            (s, min(e, last_start)) for s, e in plan.approximate if s < last_start)
        return np.array(
            session.feed(list(prompt[last_start:]), all_logits=False, phase="prefill")[0])
    except BaseException:
        # Stopped or interrupted: the kept runs moved past the cached tokens must go too, so
        # that the cache holds exactly `session.tokens` for the next prefill.
        L.llama_memory_seq_rm(mem, seq, len(session.tokens), -1)
        raise
    finally:
        L.llama_memory_seq_rm(mem, SCRATCH, -1, -1)
        L.llama_memory_seq_rm(mem, GUARD, -1, -1)


def logits_at(session: BlendedSession, position: int, token: int, seq: int) -> np.ndarray:
    """The logits after `token` decoded at `position` over the cells of `seq` before it, in the
    scratch sequence: what the cache holds there, probed without changing it."""
    L = lib()
    L.llama_memory_seq_rm(session.mem, SCRATCH, -1, -1)
    L.llama_memory_seq_cp(session.mem, seq, SCRATCH, 0, position)
    L.llama_memory_seq_cp(session.mem, seq, GUARD, -1, -1)
    try:
        session.decode_into([token], seq=SCRATCH, start=position, logits=True)
        return np.array(session.last_row())
    finally:
        L.llama_memory_seq_rm(session.mem, SCRATCH, -1, -1)
        L.llama_memory_seq_rm(session.mem, GUARD, -1, -1)
