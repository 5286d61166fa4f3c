"""OpenAI's /v1/models and /v1/chat/completions, with Predicted Outputs answered by a redraft
of the prediction: the tokens it holds are `accepted_prediction_tokens`."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .api_errors import ApiError, as_api_error
from .chat_json import Completion
from .chat_request import (
    ChatRequest,
    engine_messages,
    max_tokens,
    prediction_text,
    refusal,
    sampling,
)
from .chat_work import ChatPlan, Finished, Piece, chat_work
from .disconnects import CLIENT_CLOSED, ClientGone, EventStream, sse, while_connected
from .options import ServeOptions
from .worker import EngineWorker

log = logging.getLogger("redraft.serve")
router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(request.app.state.options)]}


@router.get("/v1/models/{model_id}")
async def get_model(request: Request, model_id: str) -> dict[str, Any]:
    options: ServeOptions = request.app.state.options
    if model_id != options.model_id:
        raise ApiError(404, f"the model {model_id!r} does not exist; this server serves "
                            f"{options.model_id!r}", code="model_not_found", param="model")
    return model_card(options)


def model_card(options: ServeOptions) -> dict[str, Any]:
    return {"id": options.model_id, "object": "model", "created": 0, "owned_by": "redraft"}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    body = await parsed(request)
    options: ServeOptions = request.app.state.options
    worker: EngineWorker = request.app.state.worker
    refused = refusal(body)
    if refused is not None:
        raise refused
    plan = ChatPlan(
        messages=engine_messages(body),
        prediction=prediction_text(body),
        max_tokens=max_tokens(body, options.max_tokens),
        rule=body.redraft.rule if body.redraft and body.redraft.rule else options.rule,
        prompt_reuse=(body.redraft.prompt_reuse if body.redraft and body.redraft.prompt_reuse
                      else options.prompt_reuse),
        sampling=sampling(body),
    )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    completion = Completion(options.model_id, include_usage=include_usage)
    items = worker.stream(chat_work(plan))
    try:
        if body.stream:
            # The first piece comes after the queue and the prompt: a refusal or an error up
            # to there still gets its HTTP status, not a stream that breaks off.
            first = await while_connected(request, anext_item(items))
            return EventStream(chunks(completion, first, items))
        done = await while_connected(request, last_item(items))
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED)
    return JSONResponse(completion.whole(done))


async def parsed(request: Request) -> ChatRequest:
    """The body as JSON whatever its Content-Type says (`curl -d` sends a form's)."""
    try:
        return ChatRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def anext_item(items: AsyncIterator[Piece | Finished]) -> Piece | Finished:
    async for item in items:
        return item
    raise RuntimeError("the answer ended without a result")


async def last_item(items: AsyncIterator[Piece | Finished]) -> Finished:
    async for item in items:
        if isinstance(item, Finished):
            return item
    raise RuntimeError("the answer ended without a result")


async def chunks(completion: Completion, first: Piece | Finished,
                 rest: AsyncGenerator[Piece | Finished, None]) -> AsyncIterator[str]:
    """The answer as server-sent chunks, then `[DONE]`; an error once the stream has begun
    ends it with an error event in OpenAI's shape instead."""
    yield sse(completion.opening())
    try:
        item = first
        while True:
            if isinstance(item, Piece):
                yield sse(completion.piece(item))
            else:
                for chunk in completion.closing(item):
                    yield sse(chunk)
                yield sse("[DONE]")
                return
            item = await anext_item(rest)
    except Exception as exc:  # noqa: BLE001 - the status was sent: the client reads it here
        error = as_api_error(exc)
        if error.status >= 500 and error.code is None:
            log.error("a streamed answer failed", exc_info=exc)
        yield sse(error.body())
    finally:
        await rest.aclose()
