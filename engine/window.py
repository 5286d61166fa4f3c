"""Verification window sizing from a measured cost model and the observed acceptance rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class CostModel:
    """Seconds to decode a batch of `w` tokens with logits at every position: fixed + per_token*w."""

    fixed: float
    per_token: float

    def cost(self, w: int) -> float:
        return self.fixed + self.per_token * w

    @classmethod
    def fit(cls, samples: Sequence[tuple[int, float]]) -> "CostModel":
        """Least-squares line through (window size, seconds) samples."""
        n = len(samples)
        if n < 2:
            raise ValueError("a cost model needs at least two window sizes")
        mx = sum(w for w, _ in samples) / n
        my = sum(t for _, t in samples) / n
        var = sum((w - mx) ** 2 for w, _ in samples)
        slope = sum((w - mx) * (t - my) for w, t in samples) / var
        slope = max(slope, 1e-9)
        return cls(fixed=max(my - slope * mx, 0.0), per_token=slope)


# CPU-like default (design brief §6, SmolLM2-135M): used until a measured fit is available.
DEFAULT_COST = CostModel(fixed=0.005, per_token=0.0039)


class WindowPolicy:
    """Chooses the next window size to maximise expected emitted tokens per second.

    The acceptance probability per draft token is tracked with exponential forgetting, so early
    divergences shrink the window and full holds grow it. The first window token is checked
    against logits already at hand before the window is decoded, so a window of size `w` that
    starts is known to hold at least one token.
    """

    def __init__(
        self,
        cost: CostModel = DEFAULT_COST,
        *,
        sizes: Sequence[int] = (2, 4, 8, 16, 32, 64, 128),
        max_size: int = 128,
        prior: float = 0.85,
        prior_weight: float = 4.0,
        decay: float = 0.7,
        fixed: int | None = None,
    ):
        self.cost = cost
        self.sizes = sorted({min(s, max_size) for s in sizes if s >= 1})
        self.fixed = fixed
        self.decay = decay
        self._held = prior * prior_weight
        self._seen = prior_weight

    @property
    def acceptance(self) -> float:
        return min(self._held / self._seen, 0.999)

    def observe(self, held: int, rejected: bool) -> None:
        """Record a window outcome: `held` tokens, then a rejection or not."""
        self._held = self._held * self.decay + held
        self._seen = self._seen * self.decay + held + (1 if rejected else 0)

    def expected_gain(self, w: int) -> float:
        """Expected tokens emitted by a window of `w` whose first token is already accepted."""
        a = self.acceptance
        held_after_first = a * (1 - a ** (w - 1)) / (1 - a)
        p_reject = 1 - a ** (w - 1)
        return 1 + held_after_first + p_reject

    def next_size(self) -> int:
        if self.fixed is not None:
            return self.fixed
        serial = self.cost.cost(1)
        best, best_rate = self.sizes[0], -1.0
        for w in self.sizes:
            p_reject = 1 - self.acceptance ** (w - 1)
            rate = self.expected_gain(w) / (self.cost.cost(w) + p_reject * serial)
            if rate > best_rate:
                best, best_rate = w, rate
        return best
