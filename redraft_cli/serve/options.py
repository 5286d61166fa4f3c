"""What the routes need besides the engine: the server's defaults for every request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    """What the routes need besides the engine: defaults of the redraft settings."""

    model_id: str
    max_tokens: int
    rule: str
    prompt_reuse: str
    max_body: int
    max_sessions: int
    key_hashes: frozenset[str] = frozenset()
