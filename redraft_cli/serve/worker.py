"""The one engine of a server and the queue in front of it.

llama.cpp decodes one request at a time on this model, so requests take turns on a single
thread that owns the engine. A request waits in a bounded queue (a full one answers `Busy`,
HTTP 429), streams what its work yields back to the event loop, and is cancelled when its
consumer goes away (a client that disconnects): the work then stops at its next event, or
inside a prompt prefill at llama.cpp's next abort check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .prompt_states import PromptStates
from .recent_answers import RecentAnswers

if TYPE_CHECKING:
    from redraft_engine import Engine, Prompt

log = logging.getLogger("redraft.serve")


class Busy(Exception):
    """The queue is full; `retry_after` is a guess, in whole seconds, of when it will not be."""

    def __init__(self, retry_after: int, queue_size: int | None = None):
        held = "" if queue_size is None else f" (its queue holds {queue_size} requests)"
        super().__init__(f"the engine is busy{held}; retry in {retry_after} s")
        self.retry_after = retry_after


class ShuttingDown(Exception):
    """The server stops: the request was not run (or was cancelled while it ran)."""


class EngineUnavailable(Exception):
    """The model did not load, so no request can run (HTTP 503)."""


@dataclass
class Turn:
    """What a piece of work gets while it holds the engine."""

    engine: Engine
    cancelled: threading.Event
    prompt_states: PromptStates
    answers: RecentAnswers

    def should_stop(self) -> bool:
        return self.cancelled.is_set()

    def start_from(self, prompt: Prompt) -> list[int]:
        """Load the kept KV state closest to `prompt` into the engine; its token ids."""
        tokens = self.engine.prompt_tokens(prompt)
        self.prompt_states.prepare(self.engine, tokens)
        return tokens


Work = Callable[[Turn], Iterator[Any]]


@dataclass(eq=False)  # kept in a set: each job is itself
class Job:
    work: Work
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def send(self, kind: str, value: Any = None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self.loop.call_soon_threadsafe(self.out.put_nowait, (kind, value))


class EngineWorker:
    def __init__(self, load: Callable[[], Engine], *, queue_size: int,
                 prompt_states: PromptStates):
        self._load = load
        self.queue_size = queue_size
        self.prompt_states = prompt_states
        self.answers = RecentAnswers()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._open: set[Job] = set()  # submitted and not finished
        self._durations: deque[float] = deque(maxlen=20)
        self._closing = False
        self.engine: Engine | None = None
        self.load_error: BaseException | None = None
        self.ready = threading.Event()  # set once the engine loaded (or failed to)
        self._thread = threading.Thread(target=self._main, name="redraft-engine", daemon=True)

    def start(self) -> None:
        """Start loading the engine (once; later calls do nothing)."""
        with self._lock:
            if self._thread.ident is None:
                self._thread.start()

    @property
    def waiting(self) -> int:
        """Requests queued or running."""
        with self._lock:
            return len(self._open)

    def submit(self, work: Work) -> Job:
        job = Job(work, asyncio.get_running_loop())
        with self._lock:
            if self._closing:
                raise ShuttingDown("the server is shutting down")
            if len(self._open) > self.queue_size:  # one running, queue_size waiting
                raise Busy(self._retry_after(len(self._open)), self.queue_size)
            self._open.add(job)
        self._jobs.put(job)
        return job

    def _retry_after(self, ahead: int) -> int:
        typical = statistics.median(self._durations) if self._durations else 1.0
        return max(1, math.ceil(typical * (ahead - self.queue_size)))

    async def stream(self, work: Work) -> AsyncGenerator[Any, None]:
        """Run `work` on the engine's thread and yield what it yields. Leaving the iteration
        early (the client went away) cancels the work. Raises `Busy` when the queue is full,
        `EngineUnavailable` when the model did not load, `ShuttingDown` when the server
        cancelled the work, and whatever the work itself raised."""
        job = self.submit(work)
        try:
            while True:
                kind, value = await job.out.get()
                if kind == "item":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            job.cancelled.set()

    def cancel_all(self) -> None:
        """Refuse new requests and cancel every one queued or running (without waiting)."""
        with self._lock:
            self._closing = True
            for job in self._open:
                job.cancelled.set()

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every request, queued or running, and stop the thread."""
        self.cancel_all()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            self.engine = self._load()
        except BaseException as exc:  # reported to every request, and by /health
            self.load_error = exc
            log.error("the model did not load: %s", exc)
        finally:
            self.ready.set()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            started = time.perf_counter()
            try:
                self._run(job)
            finally:
                self._durations.append(time.perf_counter() - started)
                with self._lock:
                    self._open.discard(job)
        if self.engine is not None:
            self.engine.close()

    def _run(self, job: Job) -> None:
        if job.cancelled.is_set():
            job.send("error", ShuttingDown("cancelled before it ran"))
            return
        if self.engine is None:
            job.send("error", EngineUnavailable(f"the model did not load: {self.load_error}"))
            return
        turn = Turn(self.engine, job.cancelled, self.prompt_states, self.answers)
        items: Iterator[Any] | None = None
        try:
            items = job.work(turn)
            for item in items:
                job.send("item", item)
                if job.cancelled.is_set():
                    break
        except Exception as exc:  # the request's own failure: its handler answers it
            job.send("error", ShuttingDown("cancelled") if job.cancelled.is_set() else exc)
        else:
            if job.cancelled.is_set():  # by close(): a consumer that left hears nothing
                job.send("error", ShuttingDown("cancelled: the server is shutting down"))
            else:
                job.send("end")
        finally:
            try:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
                self.prompt_states.remember(self.engine)
            except Exception as exc:  # noqa: BLE001 - the next request must still run
                log.warning("after a request: %s", exc)
