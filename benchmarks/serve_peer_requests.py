"""One request of benchmarks/serve_peer.py to either server, timed at the client: the chat
messages and request body (greedy, the peer without its repeat penalty), a streamed or a whole
answer read into a Reply, and the peer's text completion of redraft's own rendering for a model
without a chat template. `configure` sets the system message and that rendering once, from the
command line."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

PROBE_PROMPT = "Say hi."

# Without this the peer penalises repeats (llama_cpp.server's default repeat_penalty is 1.1,
# applied before its greedy pick), so the two servers would not decode the same answers.
PEER_GREEDY = {"repeat_penalty": 1.0}


@dataclass
class Reply:
    text: str = ""
    e2e_s: float = 0.0
    ttft_s: float | None = None
    content_chunks: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    redraft: dict[str, Any] | None = None

    @property
    def completion_tokens(self) -> int:
        """From usage when the server sent it; else the content chunks (one per token)."""
        if self.usage and self.usage.get("completion_tokens") is not None:
            return int(self.usage["completion_tokens"])
        return self.content_chunks

    @property
    def held_fraction(self) -> float | None:
        if self.redraft and self.redraft.get("held_fraction") is not None:
            return float(self.redraft["held_fraction"])
        details = (self.usage or {}).get("completion_tokens_details") or {}
        accepted = details.get("accepted_prediction_tokens")
        if accepted is None or not self.completion_tokens:
            return None
        return accepted / self.completion_tokens

    def summary(self) -> dict[str, Any]:
        return {"e2e_s": self.e2e_s, "ttft_s": self.ttft_s, "tokens": self.completion_tokens,
                "finish_reason": self.finish_reason, "held_fraction": self.held_fraction,
                "usage": self.usage, "redraft": self.redraft}


DEFAULT_SYSTEM = "You are a helpful assistant."
# Set by configure (from the command line) and read only in this module: other modules
# import its functions, never these two names (an imported copy would not see the change).
SYSTEM = DEFAULT_SYSTEM
RAW_PROMPTS: Callable[[list[dict[str, str]]], str] | None = None  # see peer_request


def configure(system: str, model: Path) -> None:
    """The system message of every request, and how the engine renders messages for `model`
    when it has no chat template (see raw_prompts)."""
    global SYSTEM, RAW_PROMPTS
    SYSTEM = system
    RAW_PROMPTS = raw_prompts(model)


def raw_prompts(model: Path) -> Callable[[list[dict[str, str]]], str] | None:
    """How redraft's engine renders messages for `model`, when the model has no chat
    template (None when it has one: both servers then apply it)."""
    from redraft_engine.llama_model import LlamaModel

    loaded = LlamaModel(model)
    if loaded.chat_template is not None:
        loaded.close()
        return None
    return loaded.render_chat


def messages_for(prompt: str) -> list[dict[str, str]]:
    system = [{"role": "system", "content": SYSTEM}] if SYSTEM else []
    return [*system, {"role": "user", "content": prompt}]


def request_body(prompt: str, max_tokens: int, prediction: str | None,
                 redraft: dict[str, str] | None, peer: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "default", "messages": messages_for(prompt),
        "temperature": 0, "max_tokens": max_tokens,
    }
    if prediction is not None:
        body["prediction"] = {"type": "content", "content": prediction}
    extra: dict[str, Any] = dict(PEER_GREEDY) if peer else {}
    if redraft:
        extra["redraft"] = redraft
    if extra:
        body["extra_body"] = extra
    return body


def stream_chat(client: openai.OpenAI, body: dict[str, Any], peer: bool,
                stop_after_chunks: int | None = None) -> Reply:
    """A streamed request, timed at the client: end to end and to the first content.
    With `stop_after_chunks`, the connection is closed after that many content chunks."""
    reply = Reply()
    extra = {} if peer else {"stream_options": {"include_usage": True}}
    parts: list[str] = []
    t0 = time.perf_counter()
    stream = client.chat.completions.create(stream=True, **extra, **body)
    try:
        for chunk in stream:
            read_chunk(chunk.to_dict(), reply, parts, t0)
            if stop_after_chunks is not None and reply.content_chunks >= stop_after_chunks:
                break
    finally:
        stream.close()
    reply.e2e_s = time.perf_counter() - t0
    reply.text = "".join(parts)
    return reply


def read_chunk(data: dict[str, Any], reply: Reply, parts: list[str], t0: float) -> None:
    for choice in data.get("choices") or []:
        content = (choice.get("delta") or {}).get("content") or choice.get("text")
        if content:
            if reply.ttft_s is None:
                reply.ttft_s = time.perf_counter() - t0
            reply.content_chunks += 1
            parts.append(content)
        if choice.get("finish_reason"):
            reply.finish_reason = choice["finish_reason"]
    if data.get("usage"):
        reply.usage = data["usage"]
    if data.get("redraft"):
        reply.redraft = data["redraft"]


def complete_chat(client: openai.OpenAI, body: dict[str, Any]) -> Reply:
    """A request without streaming; its `redraft` object and usage, timed end to end."""
    t0 = time.perf_counter()
    response = client.chat.completions.create(**body)
    data = response.to_dict()
    choice = (data.get("choices") or [{}])[0]
    return Reply(text=(choice.get("message") or {}).get("content") or "",
                 e2e_s=time.perf_counter() - t0, finish_reason=choice.get("finish_reason"),
                 usage=data.get("usage"), redraft=data.get("redraft"))


def peer_request(client: openai.OpenAI, prompt: str, max_tokens: int) -> Reply:
    """A chat completion, or, for a model without a chat template, a text completion of the
    very text redraft's engine renders: the peer would otherwise wrap it in a template of
    its own choice (llama-2's), and the two servers would answer different prompts."""
    if RAW_PROMPTS is None:
        return stream_chat(client, request_body(prompt, max_tokens, None, None, True), peer=True)
    body = {"model": "default", "prompt": RAW_PROMPTS(messages_for(prompt)),
            "max_tokens": max_tokens, "temperature": 0, "extra_body": dict(PEER_GREEDY)}
    reply = Reply()
    parts: list[str] = []
    t0 = time.perf_counter()
    stream = client.completions.create(stream=True, **body)
    try:
        for chunk in stream:
            read_chunk(chunk.to_dict(), reply, parts, t0)
    finally:
        stream.close()
    reply.e2e_s = time.perf_counter() - t0
    reply.text = "".join(parts)
    return reply


def prompt_tokens(client: openai.OpenAI, peer: bool) -> int | None:
    """How many tokens a server makes of one short user message (its chat template)."""
    if peer and RAW_PROMPTS is not None:
        usage = client.completions.create(
            model="default", prompt=RAW_PROMPTS(messages_for(PROBE_PROMPT)), max_tokens=1,
            temperature=0).usage
        return None if usage is None else usage.prompt_tokens
    reply = complete_chat(client, request_body(PROBE_PROMPT, 1, None, None, peer))
    return (reply.usage or {}).get("prompt_tokens")
