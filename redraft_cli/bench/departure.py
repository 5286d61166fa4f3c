"""Where an arm's answer leaves the fresh answer, and whether fresh decided that token by less
than the model's numerics noise there (pure functions).

Fresh greedy decoding is one path among the ones the same model takes when only the batch
shape of its decodes changes (the `cold` arm is another). Where fresh chose its token by a
margin within the measured batched-versus-serial noise, any other computation of the same
model may choose the runner-up: a check that depends on what follows is then decided by a
coin flip, not by what the arm does. A departure where fresh's margin was larger is the arm's
own doing (a held old token, an approximate prompt).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Departure:
    """The first answer position where an arm's token differs from fresh's.

    `fresh_margin` and `arm_margin` are the decision margins there (logit of the chosen token
    minus the best other); None where that answer had already ended (its end-of-generation
    decision is not recorded) or the margin is unknown.
    """

    index: int
    fresh_margin: float | None
    arm_margin: float | None

    def at_coin_flip(self, noise: float) -> bool:
        """Fresh chose its token there by no more than `noise` logits."""
        return self.fresh_margin is not None and self.fresh_margin <= noise

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "fresh_margin": self.fresh_margin,
                "arm_margin": self.arm_margin}


def departure(
    fresh_tokens: Sequence[int], fresh_margins: Sequence[float],
    arm_tokens: Sequence[int], arm_margins: Sequence[float],
) -> Departure | None:
    """Where the arm's answer first differs from fresh's; None when the two are the same."""
    common = min(len(fresh_tokens), len(arm_tokens))
    index = next((i for i in range(common) if fresh_tokens[i] != arm_tokens[i]), common)
    if index == len(fresh_tokens) == len(arm_tokens):
        return None
    return Departure(index, _margin(fresh_margins, index), _margin(arm_margins, index))


def _margin(margins: Sequence[float], index: int) -> float | None:
    if index >= len(margins) or math.isnan(margins[index]):
        return None
    return float(margins[index])
