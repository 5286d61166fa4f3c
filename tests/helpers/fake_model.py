"""A deterministic stand-in model for the pure core: logits are a function of the token prefix.

The logits at a position depend on the last two tokens (the model's "phrasing") and, more
weakly, on a hash of the prompt (the "context"), so an edited prompt changes some but not all
continuations, as with a real model. End of generation (token 0) becomes likelier with length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

EOG = 0


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


class FakeModel:
    """Implements the replay `Decoder` protocol over an in-memory token list."""

    def __init__(self, prompt: Sequence[int], *, vocab: int = 12, seed: int = 0,
                 context_weight: float = 0.8):
        self.vocab = vocab
        self.seed = seed
        self.context_weight = context_weight
        self.prompt = list(prompt)
        self.context = hash(tuple(prompt)) % 1_000_003
        self.tokens: list[int] = list(prompt)
        self.batches: list[int] = []

    def logits_after(self, prefix: Sequence[int]) -> np.ndarray:
        last = tuple(prefix[-2:])
        answer_len = len(prefix) - len(self.prompt)
        phrasing = _rng(self.seed, "phrasing", last, answer_len // 8).normal(0.0, 2.0, self.vocab)
        context = _rng(self.seed, "context", self.context, last).normal(0.0, 1.0, self.vocab)
        logits = phrasing + self.context_weight * context
        logits[EOG] += -3.0 + 0.15 * answer_len
        return logits.astype(np.float32)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def feed(self, tokens: Sequence[int], *, all_logits: bool, phase: str) -> np.ndarray:
        rows = []
        for t in tokens:
            self.tokens.append(int(t))
            rows.append(self.logits_after(self.tokens))
        self.batches.append(len(tokens))
        return np.stack(rows) if all_logits else np.stack(rows[-1:])

    def truncate(self, n_tokens: int) -> None:
        del self.tokens[n_tokens:]

    def start(self) -> np.ndarray:
        """Logits after the prompt."""
        return self.logits_after(self.tokens)

    def greedy(self, max_tokens: int) -> list[int]:
        """Reference greedy decode, independent of the replay code."""
        seq = list(self.prompt)
        out: list[int] = []
        while len(out) < max_tokens:
            t = int(np.argmax(self.logits_after(seq)))
            if t == EOG:
                break
            out.append(t)
            seq.append(t)
        return out
