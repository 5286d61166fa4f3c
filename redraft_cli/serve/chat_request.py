"""The body of POST /v1/chat/completions: OpenAI's fields, Predicted Outputs' `prediction`, and
redraft's own `redraft` object; what this server refuses; what the engine gets from it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from redraft_engine import Sampling

from .api_errors import ApiError

SEED_MASK = (1 << 64) - 1  # numpy's generators take seeds >= 0; OpenAI's may be negative
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class Strict(BaseModel):
    # Unknown fields are ignored, as clients send fields newer than this server.
    model_config = ConfigDict(strict=True, extra="ignore")


class TextPart(Strict):
    type: str
    text: str | None = None


class ChatMessage(Strict):
    role: str
    content: str | list[TextPart] | None = None


class Prediction(Strict):
    type: Literal["content"]
    content: str | list[TextPart]


class StreamOptions(Strict):
    include_usage: bool = False


class RedraftOptions(Strict):
    model_config = ConfigDict(strict=True, extra="forbid")  # a misspelt option must not pass

    rule: Literal["tolerant", "exact"] | None = None
    prompt_reuse: Literal["exact", "blend"] | None = None


class ChatRequest(Strict):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Any] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    audio: dict[str, Any] | None = None
    modalities: list[str] | None = None
    response_format: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    prediction: Prediction | None = None
    redraft: RedraftOptions | None = None


def refusal(request: ChatRequest) -> ApiError | None:
    """What this server cannot do for `request` (OpenAI refuses most of it with a prediction
    too; here one engine answers greedily or by plain sampling, once, with text only)."""
    with_prediction = " (and with Predicted Outputs)" if request.prediction else ""
    checks: list[tuple[bool, str, str]] = [
        ((request.n or 1) > 1, "n", "n > 1 is not supported: this server answers once per "
                                    f"request{with_prediction}"),
        (bool(request.logprobs) or request.top_logprobs is not None, "logprobs",
         f"logprobs are not supported{with_prediction}"),
        (bool(request.presence_penalty), "presence_penalty",
         f"presence_penalty is not supported{with_prediction}"),
        (bool(request.frequency_penalty), "frequency_penalty",
         f"frequency_penalty is not supported{with_prediction}"),
        (bool(request.logit_bias), "logit_bias", "logit_bias is not supported"),
        (bool(request.tools) or bool(request.functions), "tools",
         f"tools and function calling are not supported{with_prediction}"),
        (request.audio is not None or any(m != "text" for m in request.modalities or ()),
         "modalities", f"only text output is supported{with_prediction}"),
        (bool(request.stop), "stop", "stop sequences are not supported"),
        (request.response_format is not None
         and request.response_format.get("type", "text") != "text", "response_format",
         "only the text response format is supported"),
    ]
    for refused, param, message in checks:
        if refused:
            return ApiError(400, message, code="unsupported_parameter", param=param)
    return None


def engine_messages(request: ChatRequest) -> list[dict[str, str]]:
    """The chat messages as the engine takes them: a role it knows and string content."""
    messages = []
    for i, message in enumerate(request.messages):
        role = ROLES.get(message.role)
        if role is None:
            raise ApiError(400, f"messages[{i}].role {message.role!r} is not supported (use "
                                f"{', '.join(ROLES)})", param=f"messages[{i}].role")
        if message.content is None:
            raise ApiError(400, f"messages[{i}] has no content (tool calls are not supported)",
                           param=f"messages[{i}].content")
        messages.append({"role": role,
                         "content": text_of(message.content, f"messages[{i}].content", "\n")})
    return messages


def prediction_text(request: ChatRequest) -> str | None:
    if request.prediction is None:
        return None
    return text_of(request.prediction.content, "prediction.content", "")


def text_of(content: str | list[TextPart], param: str, joiner: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise ApiError(400, f"{param}[{i}]: only text parts are supported, got type "
                                f"{part.type!r}", param=f"{param}[{i}]")
        texts.append(part.text)
    return joiner.join(texts)


def max_tokens(request: ChatRequest, default: int) -> int:
    chosen = request.max_completion_tokens or request.max_tokens
    return default if chosen is None else chosen


def sampling(request: ChatRequest) -> Sampling | None:
    """How to sample, or None to decode greedily: no temperature, a temperature of 0, or a
    top_p of 0 (which keeps only the most likely token)."""
    if not request.temperature or request.top_p == 0:
        return None
    top_p = 1.0 if request.top_p is None else request.top_p
    seed = None if request.seed is None else request.seed & SEED_MASK
    return Sampling(request.temperature, top_p, seed)
