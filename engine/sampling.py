"""How the model's own token is chosen at a position: greedily, or by sampling.

The replay asks a chooser for the model's token at each position, with the draft token it is
about to check there (None where nothing is drafted). Greedy choice is the argmax. Sampling
with a draft stays lossless: the draft token is taken with its probability under the model,
otherwise a token is drawn from the rest of the distribution, renormalised (speculative
sampling with a draft that puts all its mass on one token). Either way the emitted token is
distributed as the model says, whatever the draft was; an exact-match rule then holds the
draft token exactly when it was chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Chooser = Callable[[np.ndarray, "int | None"], int]


def greedy(row: np.ndarray, draft: int | None = None) -> int:
    return int(row.argmax())


@dataclass(frozen=True)
class Sampling:
    """Sampling settings: `temperature` > 0 (0 means greedy), nucleus `top_p` in (0, 1], and
    a `seed` that makes the draws repeatable (None: drawn from the OS)."""

    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be at least 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def chooser(self) -> Chooser:
        if self.greedy:
            return greedy
        return SpeculativeSampler(self.temperature, self.top_p, np.random.default_rng(self.seed))


def distribution(row: np.ndarray, temperature: float, top_p: float = 1.0) -> np.ndarray:
    """The model's probabilities at `row` under `temperature`, cut to the smallest set of
    most likely tokens whose mass reaches `top_p` (that set renormalised)."""
    z = row.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_p < 1:
        order = np.argsort(p)[::-1]
        mass = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(mass, top_p)) + 1]
        cut = np.zeros_like(p)
        cut[keep] = p[keep]
        p = cut / cut.sum()
    return p


class SpeculativeSampler:
    """A chooser that samples, accepting a draft token with its own probability."""

    def __init__(self, temperature: float, top_p: float, rng: np.random.Generator):
        self.temperature = temperature
        self.top_p = top_p
        self.rng = rng

    def __call__(self, row: np.ndarray, draft: int | None = None) -> int:
        p = distribution(row, self.temperature, self.top_p)
        if draft is not None and 0 <= draft < p.shape[0]:
            if self.rng.random() < p[draft]:
                return draft
            p[draft] = 0.0
            p /= p.sum()
        return int(self.rng.choice(p.shape[0], p=p))
