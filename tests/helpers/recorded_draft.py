"""An old answer fixed as text, with the decision margins recorded where a test needs them."""

from __future__ import annotations

from redraft_engine import Draft, Engine


def recorded_draft(engine: Engine, text: str, old_prompt: str,
                   margins: dict[int, float]) -> tuple[Draft, tuple]:
    """The draft of `text` as the answer to `old_prompt`, with the margins given by token index
    (every other margin unknown), and the engine state of `old_prompt`'s KV, as a user has it
    after the old answer."""
    tokens = engine.model.tokenize(text)
    known = [float("nan")] * len(tokens)
    for index, margin in margins.items():
        known[index] = margin
    engine.generate(old_prompt, max_tokens=1)
    return Draft(tokens, old_prompt, known), engine.export_state()
