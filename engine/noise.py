"""The model's batched-versus-serial logit noise, measured on this machine.

llama.cpp's batched and one-token decodes of the same text give slightly different logits, so a
decision taken at a near-tie can flip between the serial decode that wrote an answer and the
verification window that replays it, with nothing edited. The noise is measured by writing an
answer serially, recording each chosen token's margin (its logit minus the best other), then
decoding the same tokens in verification windows and recording the same token's margin there.
`noise` is a high percentile of the change. The measurement itself is in noise_probe.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PERCENTILE = 99.0


@dataclass(frozen=True)
class NoiseEstimate:
    """Changes of decision margins between serial and windowed decodes of the same answer."""

    noise: float
    max_change: float
    samples: int
    percentile: float = PERCENTILE

    def to_json(self) -> dict:
        return {"noise": self.noise, "max_change": self.max_change, "samples": self.samples,
                "percentile": self.percentile}

    @classmethod
    def from_json(cls, data: dict) -> NoiseEstimate:
        estimate = cls(float(data["noise"]), float(data["max_change"]), int(data["samples"]),
                       float(data["percentile"]))
        if not (math.isfinite(estimate.noise) and estimate.noise >= 0 and estimate.samples > 0):
            raise ValueError("not a noise estimate")
        return estimate
