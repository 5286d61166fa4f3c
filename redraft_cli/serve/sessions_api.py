"""Document sessions over HTTP, and the race the page runs on them.

    PUT    /v1/sessions/{id}          {"task" | "instruction", "question"?, "document",
                                       "max_tokens"?}  ->  {"id", "revision": 0}
    GET    /v1/sessions/{id}          ->  {"id", "revision", "task", "question", "document",
                                           "answer"}
    DELETE /v1/sessions/{id}          ->  {"id", "deleted": true}
    POST   /v1/sessions/{id}/refresh  {"document"?, "base_revision"?}  ->  text/event-stream
    POST   /race/{id}                 {"document"?, "base_revision"?}  ->  text/event-stream
    GET    /race/options              ->  the model and its settings, for the page

A refresh answers the document (the session's own when the body gives none): afresh the
first time, then by redrafting the session's last complete answer. Its stream is `delta`
events (`{"text", "kind": "held" | "new"}`), then one of `done` (`{"revision", "text",
"mode", "first_token_s", "wall_s", "tokens", "held", "stats"}`: the answer is kept as the
session's new revision), `cancelled` (a newer refresh of the session took over; nothing is
kept) or `error` (`{"message", "code"}`). The stream begins once the engine takes the
request; until then it waits in the engine's queue (a full queue answers 429). A
`base_revision` other than the current one is refused with 409 `stale_revision`.

Sessions live in memory, at most `max_sessions` of them and 64 MB of text (sessions.py): the
least recently used make room, and a session that went answers 404.

The race is a refresh that first answers the same document afresh, for comparison: one job
on the engine, so nothing runs between its two arms, and both arms start from the same KV
cache (the redraft arm does not inherit the prompt the fresh arm just decoded). Its events
carry `"arm": "regenerate" | "redraft"`: per arm `start`, `delta`s and `done` (the
regenerate arm's answer is not kept; the redraft arm's `done` has the new revision), then
`cancelled` or `error` may end it early. It needs a session with an answer (409
`no_answer`). One endpoint rather than a flag on refresh: the page makes one request per
edit, and a newer edit cancels the race as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from redraft_cli.tasks import BUILTIN_TASKS, Task, TaskError, custom_task

from .api_errors import ApiError, as_api_error
from .disconnects import CLIENT_CLOSED, ClientGone, EventStream, aclose, sse, while_connected
from .options import ServeOptions
from .session_runs import CANCELLED, ArmDone, ArmStart, Delta, Item, race_work, refresh_work
from .sessions import Session, SessionStore, Ticket
from .worker import EngineWorker, Work

if TYPE_CHECKING:
    from redraft_engine import Result

log = logging.getLogger("redraft.serve")
router = APIRouter()

SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._~-]{1,128}$")]


class SessionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str | None = None
    instruction: str | None = None
    question: str | None = None
    document: str
    max_tokens: int | None = Field(default=None, gt=0)


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: str | None = None
    base_revision: int | None = None


def store(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def options(request: Request) -> ServeOptions:
    opts: ServeOptions = request.app.state.options
    return opts


def found(request: Request, session_id: str) -> Session:
    session = store(request).get(session_id)
    if session is None:
        raise ApiError(404, f"no session {session_id!r} (it was never created, was deleted, or "
                            "made room for newer sessions): PUT it again", code="session_not_found")
    return session


def task_of(spec: SessionSpec) -> Task:
    if (spec.task is None) == (spec.instruction is None):
        raise ApiError(400, "give either 'task' (" + ", ".join(BUILTIN_TASKS) + ") or "
                            "'instruction' (a prompt with {document})", param="task")
    if spec.instruction is not None:
        try:
            return custom_task(spec.instruction)
        except TaskError as exc:
            raise ApiError(400, str(exc), param="instruction") from None
    task = BUILTIN_TASKS.get(spec.task or "")
    if task is None:
        raise ApiError(400, f"unknown task {spec.task!r}; the tasks are "
                            + ", ".join(BUILTIN_TASKS), param="task")
    if task.needs_question and not spec.question:
        raise ApiError(400, f"task {task.name!r} needs a 'question'", param="question")
    return task


@router.put("/v1/sessions/{session_id}")
async def put_session(session_id: SessionId, spec: SessionSpec,
                      request: Request) -> dict[str, Any]:
    session = Session(session_id, task_of(spec), spec.question, spec.max_tokens, spec.document)
    store(request).put(session)
    return {"id": session.id, "revision": session.revision}


@router.get("/v1/sessions/{session_id}")
async def get_session(session_id: SessionId, request: Request) -> dict[str, Any]:
    session = found(request, session_id)
    return {"id": session.id, "revision": session.revision, "task": session.task.name,
            "question": session.question, "document": session.document,
            "answer": None if session.answer is None else session.answer.text}


@router.delete("/v1/sessions/{session_id}")
async def delete_session(session_id: SessionId, request: Request) -> dict[str, Any]:
    if not store(request).delete(session_id):
        found(request, session_id)  # raises the 404
    return {"id": session_id, "deleted": True}


@router.post("/v1/sessions/{session_id}/refresh")
async def refresh(session_id: SessionId, body: RefreshBody,
                  request: Request) -> Response:
    session, document = refreshable(request, session_id, body)
    ticket = session.begin()
    work = refresh_work(session.prompt(document), session.answer, rule=options(request).rule,
                        max_tokens=max_tokens(request, session), ticket=ticket)
    return await event_stream(request, session, ticket, document, work, race=False)


@router.post("/race/{session_id}")
async def race(session_id: SessionId, body: RefreshBody, request: Request) -> Response:
    session, document = refreshable(request, session_id, body)
    if session.answer is None:
        raise ApiError(409, "the session has no answer to redraft yet: refresh it first",
                       code="no_answer")
    ticket = session.begin()
    work = race_work(session.prompt(document), session.answer, rule=options(request).rule,
                     max_tokens=max_tokens(request, session), ticket=ticket)
    return await event_stream(request, session, ticket, document, work, race=True)


@router.get("/race/options")
async def race_options(request: Request) -> dict[str, Any]:
    opts = options(request)
    return {"model": opts.model_id, "max_tokens": opts.max_tokens, "rule": opts.rule,
            "prompt_reuse": opts.prompt_reuse}


def refreshable(request: Request, session_id: str, body: RefreshBody) -> tuple[Session, str]:
    session = found(request, session_id)
    if body.base_revision is not None and body.base_revision != session.revision:
        raise ApiError(409, f"base_revision {body.base_revision} is not the session's current "
                            f"revision {session.revision}", code="stale_revision",
                       param="base_revision")
    return session, session.document if body.document is None else body.document


def max_tokens(request: Request, session: Session) -> int:
    return session.max_tokens or options(request).max_tokens


async def event_stream(request: Request, session: Session, ticket: Ticket, document: str,
                       work: Work, *, race: bool) -> Response:
    """Queue `work` and stream its items as server-sent events once the engine takes it, so
    that a full queue (429) or a server shutting down (503) is still an HTTP status."""
    worker: EngineWorker = request.app.state.worker
    items = worker.stream(work)
    try:
        first = await while_connected(request, anext(items))
    except BaseException as exc:
        session.release(ticket)
        await aclose(items)
        if isinstance(exc, ClientGone):
            return Response(status_code=CLIENT_CLOSED)
        raise
    sessions = store(request)

    async def events() -> AsyncIterator[str]:
        item: Item | None = first
        try:
            while item is not None:
                if isinstance(item, ArmDone) and kept(item, race):
                    if sessions.finish(session, ticket, document, item.result):
                        yield named_event("done", arm_tag(item.arm, race) | summary(item.result)
                                  | {"revision": session.revision} | mode_tag(item, race))
                    else:
                        yield named_event("cancelled", arm_tag(item.arm, race))
                    return
                if item == CANCELLED:
                    yield named_event("cancelled", {})
                    return
                event = progress_event(item, race)
                if event is not None:
                    yield event
                item = await anext(items, None)
        except Exception as exc:  # noqa: BLE001 - the status was sent: the error goes in
            error = as_api_error(exc)
            if error.status >= 500:
                log.error("session %s: the refresh failed", session.id, exc_info=exc)
            yield named_event("error", {"message": error.message, "code": error.code})
        finally:
            session.release(ticket)
            await aclose(items)

    return EventStream(events())


def progress_event(item: Item, race: bool) -> str | None:
    """The event of an item that does not end the stream (a refresh does not announce its
    only arm)."""
    if isinstance(item, ArmStart):
        return named_event("start", {"arm": item.arm}) if race else None
    if isinstance(item, Delta):
        delta = {"text": item.text, "kind": item.kind}
        return named_event("delta", arm_tag(item.arm, race) | delta)
    if isinstance(item, ArmDone):
        return named_event("done", arm_tag(item.arm, race) | summary(item.result))
    raise TypeError(f"unexpected item {item!r}")


def kept(done: ArmDone, race: bool) -> bool:
    """Whether `done` is the answer the session keeps (a race keeps its redraft only)."""
    return done.arm == "redraft" or not race


def arm_tag(arm: str, race: bool) -> dict[str, Any]:
    return {"arm": arm} if race else {}


def mode_tag(item: ArmDone, race: bool) -> dict[str, Any]:
    return {} if race else {"mode": "fresh" if item.arm == "regenerate" else "redraft"}


def summary(result: Result) -> dict[str, Any]:
    stats = result.stats
    return {"text": result.text, "first_token_s": stats.first_token_s, "wall_s": stats.wall_s,
            "tokens": stats.emitted, "held": stats.held, "stats": stats.to_dict()}


def named_event(event: str, data: dict[str, Any]) -> str:
    return sse(data, event)
