"""Cancel a request's work as soon as its client disconnects: while the request waits for its
first result, and while an event stream is sent.

Leaving the async iteration of `EngineWorker.stream` cancels the engine's work; here that
happens at the disconnect itself, not at the next write that fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import anyio
from fastapi import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")
CLIENT_CLOSED = 499  # the status of a request whose client left: never read by anyone


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def disconnected(receive: Receive) -> None:
    """Return once the client has disconnected (the request's body must have been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def while_connected(request: Request, awaitable: Awaitable[T]) -> T:
    """Await `awaitable`; if the client disconnects first, cancel it and raise ClientGone."""
    work = asyncio.ensure_future(awaitable)
    watch = asyncio.ensure_future(disconnected(request.receive))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    if work.cancelled():
        raise ClientGone
    return work.result()


def sse(data: Any, event: str | None = None) -> str:
    """One server-sent event carrying `data` as JSON (or as it is, for a string), named
    `event` when given."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False,
                                                         separators=(",", ":"))
    name = "" if event is None else f"event: {event}\n"
    return f"{name}data: {text}\n\n"


class EventStream(StreamingResponse):
    """Server-sent events from an async iterator of strings, which is closed as soon as the
    client disconnects (so the engine's work it reads from is cancelled then)."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[str]):
        super().__init__(events, headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    with contextlib.suppress(OSError):  # the client left while we wrote
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await disconnected(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await aclose(self.events)


async def aclose(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
