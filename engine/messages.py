"""Chat messages: the prompt forms the engine accepts, and the text an edit changes."""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]
Prompt = str | Sequence[Message]


def as_messages(prompt: Prompt) -> list[Message]:
    """A user-message string becomes one user message; a message list is copied and checked."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = [dict(m) for m in prompt]
    for m in messages:
        if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError("each chat message needs string 'role' and 'content' keys")
    return messages


def message_text(messages: Sequence[Message]) -> str:
    """The contents of chat messages joined by blank lines: the text an edit changes."""
    return "\n\n".join(m["content"] for m in messages)
