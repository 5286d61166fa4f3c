"""Counters and timings of one generate/redraft call."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Timings:
    """Seconds spent, split by what the time was spent on."""

    prefill: float = 0.0
    verify: float = 0.0
    serial: float = 0.0
    other: float = 0.0

    @property
    def decode(self) -> float:
        """Time inside llama_decode (prefill + verification windows + serial steps)."""
        return self.prefill + self.verify + self.serial


@dataclass
class Stats:
    """What one call did. `held_fraction` is held / emitted."""

    prompt_tokens: int = 0
    prompt_reused: int = 0
    prompt_recomputed: int = 0
    emitted: int = 0
    held: int = 0
    rewritten: int = 0
    divergences: int = 0
    windows: int = 0
    rollbacks: int = 0
    reanchors: int = 0
    wall_s: float = 0.0
    time: Timings = field(default_factory=Timings)

    @property
    def held_fraction(self) -> float:
        return self.held / self.emitted if self.emitted else 0.0

    @property
    def answer_s(self) -> float:
        """Wall time after the prompt was processed."""
        return max(0.0, self.wall_s - self.time.prefill)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["held_fraction"] = self.held_fraction
        d["answer_s"] = self.answer_s
        return d
