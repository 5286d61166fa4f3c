"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with the HTTP
status OpenAI uses for each kind, so OpenAI clients raise their usual exceptions."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """Raised by a handler to answer with this status and message."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def as_api_error(exc: BaseException) -> ApiError:
    """The answer to an exception a request raised: the worker's refusals and the engine's
    errors a request can cause get their status; anything else is an internal error."""
    from redraft_engine import InvalidTokenError, PromptTooLongError

    from .worker import Busy, EngineUnavailable, ShuttingDown

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Busy):
        return ApiError(429, str(exc), code="busy", headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, ShuttingDown):
        return ApiError(503, str(exc), code="shutting_down")
    if isinstance(exc, EngineUnavailable):
        return ApiError(503, str(exc), code="model_not_loaded")
    if isinstance(exc, PromptTooLongError):
        return ApiError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, InvalidTokenError):
        return ApiError(400, str(exc), code="invalid_tokens")
    return ApiError(500, f"internal error ({type(exc).__name__}); the server log has the "
                         "details")
