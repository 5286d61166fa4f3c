"""The FastAPI application: authentication, body limits, errors in OpenAI's shape, the race
page, and the routers of the OpenAI-compatible API and of document sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from redraft_engine import InvalidTokenError, PromptTooLongError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api_errors import ApiError, as_api_error
from .keys import key_accepted
from .options import ServeOptions
from .sessions import SessionStore
from .worker import Busy, EngineUnavailable, EngineWorker, ShuttingDown

log = logging.getLogger("redraft.serve")
STATIC = Path(__file__).parent / "static"
GUARDED_PREFIXES = ("/v1/", "/race/")  # the page, its files and /health need no key


class RequireKey:
    """Answer 401 to a request under /v1/ or /race/ without a Bearer key this server accepts
    (when it accepts any: no key configured means no check)."""

    def __init__(self, app: ASGIApp, key_hashes: frozenset[str]):
        self.app = app
        self.key_hashes = key_hashes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and self.key_hashes
                and scope["path"].startswith(GUARDED_PREFIXES)):
            header = Headers(scope=scope).get("authorization")
            if not key_accepted(header, self.key_hashes):
                refusal = ApiError(401, "Incorrect or missing API key: send 'Authorization: "
                                        "Bearer <key>' with a key this server accepts",
                                   code="invalid_api_key")
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a request body over `limit` bytes with 413, by its Content-Length or, for a
    chunked body, as soon as the bytes read pass the limit.

    The body is read here, before the application runs: an error raised while the
    application reads it would come out as FastAPI's 400 "error parsing the body"."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self.too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nothing to answer
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self.too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(bytes(body), receive), send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = ApiError(413, f"the request body is larger than the server's limit of "
                                f"{self.limit} bytes", code="request_too_large",
                           headers={"Connection": "close"})
        await refusal.response()(scope, receive, send)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` in one message, then what the client sends next (its
    disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def create_app(worker: EngineWorker, options: ServeOptions) -> FastAPI:
    from .openai_api import router as openai_router
    from .sessions_api import router as sessions_router

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            await asyncio.to_thread(worker.close)

    app = FastAPI(title="redraft", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.worker = worker
    app.state.options = options
    app.state.sessions = SessionStore(options.max_sessions)
    app.add_middleware(BodyLimit, limit=options.max_body)
    app.add_middleware(RequireKey, key_hashes=options.key_hashes)

    async def refused(_request: Request, exc: Exception) -> JSONResponse:
        return as_api_error(exc).response()

    for known in (ApiError, Busy, ShuttingDown, EngineUnavailable, PromptTooLongError,
                  InvalidTokenError):
        app.add_exception_handler(known, refused)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return ApiError(400, describe_validation(exc.errors()),
                        param=first_param(exc.errors())).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return ApiError(exc.status_code, str(exc.detail)).response()

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return as_api_error(exc).response()

    @app.get("/health")
    async def health() -> JSONResponse:
        if not worker.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        if worker.load_error is not None:
            return JSONResponse({"status": "error", "error": str(worker.load_error)},
                                status_code=503)
        return JSONResponse({"status": "ok", "model": options.model_id,
                             "queued": worker.waiting})

    @app.get("/", include_in_schema=False)
    async def race_page() -> FileResponse:
        return FileResponse(STATIC / "race.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(openai_router)
    app.include_router(sessions_router)
    return app


def describe_validation(errors: Any) -> str:
    """One line for pydantic's validation errors: where, and what was wrong."""
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        if error.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
        else:
            parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def first_param(errors: Any) -> str | None:
    for error in errors:
        if error.get("type") == "json_invalid":  # its location is an offset in the text
            continue
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        if loc:
            return ".".join(loc)
    return None

