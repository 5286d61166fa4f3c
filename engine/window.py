"""Verification window sizing from a measured cost table and the observed acceptance rate."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CostModel:
    """Seconds to decode a batch of `w` tokens with logits at every position.

    Held as measured (window size, seconds) points and interpolated linearly between them,
    because the cost of a batch on a CPU is not a straight line in `w`: kernels switch at
    some sizes (measured here on SmolLM2: 8 ms per token at w=8..32, 6 ms at w=64..128).
    Beyond the last point the cost grows at the last segment's slope.
    """

    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        if len(self.points) < 2 or len({w for w, _ in self.points}) != len(self.points):
            raise ValueError("a cost model needs at least two distinct window sizes")
        if any(w < 1 or t <= 0 for w, t in self.points):
            raise ValueError("window sizes and times must be positive")
        object.__setattr__(self, "points", tuple(sorted(self.points)))

    def cost(self, w: int) -> float:
        sizes = [p[0] for p in self.points]
        k = bisect_left(sizes, w)
        if k < len(sizes) and sizes[k] == w:
            return self.points[k][1]
        lo = min(max(k - 1, 0), len(sizes) - 2)  # the segment around w, or the nearest end one
        (w0, t0), (w1, t1) = self.points[lo], self.points[lo + 1]
        return max(t0 + (t1 - t0) * (w - w0) / (w1 - w0), 1e-9)

    def to_json(self) -> dict:
        return {"points": [list(p) for p in self.points]}

    @classmethod
    def from_json(cls, data: dict) -> CostModel:
        return cls(tuple((int(w), float(t)) for w, t in data["points"]))


# Measured on a 2-core CPU with SmolLM2-135M after a 512-token prompt; used until this machine's
# own table is measured.
DEFAULT_COST = CostModel(((1, 0.0092), (16, 16 * 0.0049), (64, 64 * 0.0045), (128, 128 * 0.0039)))


class WindowPolicy:
    """Chooses the next window size to maximise expected emitted tokens per second.

    The acceptance probability per draft token is tracked with exponential forgetting, so early
    divergences shrink the window. After a fully held window the next one is at least twice as
    large (agreement comes in long runs: a replayed span tends to go on), up to `max_size`.
    The first window token is checked against logits already at hand before the window is
    decoded, so a window of size `w` that starts is known to hold at least one token.
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
        self.max_size = max_size
        self.sizes = sorted({min(s, max_size) for s in sizes if s >= 1})
        self.fixed = fixed
        self.decay = decay
        self._held = prior * prior_weight
        self._seen = prior_weight
        self._grow_to = 0

    @property
    def acceptance(self) -> float:
        return min(self._held / self._seen, 0.999)

    def observe(self, held: int, rejected: bool) -> None:
        """Record a window outcome: `held` tokens, then a rejection or not."""
        self._held = self._held * self.decay + held
        self._seen = self._seen * self.decay + held + (1 if rejected else 0)
        self._grow_to = 0 if rejected else min(2 * held, self.max_size)

    def expected_gain(self, w: int) -> float:
        """Expected tokens emitted by a window of `w` whose first token is already accepted."""
        a = self.acceptance
        held_after_first = a * (1 - a ** (w - 1)) / (1 - a)
        p_reject = 1 - a ** (w - 1)
        return 1 + held_after_first + p_reject

    def next_size(self, *, first_checked: bool = True) -> int:
        """The size of the next window of draft tokens.

        With `first_checked`, the first draft token was accepted from logits at hand. Without,
        the window rides on a token that still has to be decoded (a correction or a serial
        token), so every draft token is unverified; 0 then means: decode that token alone.
        """
        if self.fixed is not None:
            return self.fixed
        serial = self.cost.cost(1)
        a = self.acceptance
        if not first_checked:
            best, best_rate = 0, 1 / serial
            for w in self.sizes:
                held = a * (1 - a**w) / (1 - a)
                rate = (1 + held) / self.cost.cost(w + 1)
                if rate > best_rate:
                    best, best_rate = w, rate
            return max(best, self._grow_to) if best else 0
        best, best_rate = self.sizes[0], -1.0
        for w in self.sizes:
            p_reject = 1 - a ** (w - 1)
            rate = self.expected_gain(w) / (self.cost.cost(w) + p_reject * serial)
            if rate > best_rate:
                best, best_rate = w, rate
        return max(best, self._grow_to)
