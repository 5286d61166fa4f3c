"""The JSON of OpenAI's chat completions (whole, and streamed as chunks), with the usage of
Predicted Outputs and a `redraft` object of what the redraft did."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .chat_work import Finished, Piece


def usage(done: Finished) -> dict[str, Any]:
    stats = done.result.stats
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.emitted,
        "total_tokens": stats.prompt_tokens + stats.emitted,
        "prompt_tokens_details": {"cached_tokens": stats.prompt_reused},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "accepted_prediction_tokens": stats.held,
            "rejected_prediction_tokens": max(0, done.prediction_tokens - stats.held),
        },
    }


def redraft_stats(done: Finished) -> dict[str, Any]:
    stats = done.result.stats
    return {
        "held_fraction": stats.held_fraction,
        "held": stats.held,
        "emitted": stats.emitted,
        "prompt_tokens_reused": stats.prompt_reused,
        "prompt_tokens_shifted": stats.prompt_shifted,
        "prompt_tokens_recomputed": stats.prompt_recomputed,
        "first_token_s": stats.first_token_s,
        "wall_s": stats.wall_s,
        "rule": done.result.rule,
        "prediction_source": done.prediction_source,
    }


@dataclass
class Completion:
    """The identity every chunk of one answer repeats."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def whole(self, done: Finished) -> dict[str, Any]:
        """The answer of a request that did not ask to stream."""
        message = {"role": "assistant", "content": done.result.text, "refusal": None}
        return {
            **self._head("chat.completion"),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": done.finish_reason}],
            "usage": usage(done),
            "redraft": redraft_stats(done),
        }

    def opening(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def piece(self, piece: Piece) -> dict[str, Any]:
        return {**self._chunk({"content": piece.text}),
                "redraft": {"held": piece.held, "tokens": piece.tokens}}

    def closing(self, done: Finished) -> list[dict[str, Any]]:
        """The chunk with the finish reason, then, when asked for, the one with the usage;
        both carry the redraft stats, so the last chunk always has them."""
        chunks = [{**self._chunk({}, done.finish_reason), "redraft": redraft_stats(done)}]
        if self.include_usage:
            chunks.append({**self._head("chat.completion.chunk"), "choices": [],
                           "usage": usage(done), "redraft": redraft_stats(done)})
        return chunks

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "system_fingerprint": None}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk = {**self._head("chat.completion.chunk"),
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish_reason}]}
        if self.include_usage:
            chunk["usage"] = None
        return chunk
