"""Counters and timings of one generate/redraft call."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Timings:
    """Seconds spent, and tokens decoded, per kind of work."""

    prefill: float = 0.0
    verify: float = 0.0
    serial: float = 0.0
    other: float = 0.0
    prefill_tokens: int = 0
    verify_tokens: int = 0
    serial_tokens: int = 0

    def add(self, phase: str, seconds: float, n_tokens: int) -> None:
        """Account one llama_decode of `n_tokens` to `phase` (prefill, verify, serial, other)."""
        setattr(self, phase, getattr(self, phase) + seconds)
        if phase != "other":
            name = f"{phase}_tokens"
            setattr(self, name, getattr(self, name) + n_tokens)

    @property
    def decode(self) -> float:
        """Time inside llama_decode (prefill + verification windows + serial steps)."""
        return self.prefill + self.verify + self.serial


@dataclass
class Stats:
    """What one call did. `held_fraction` is held / emitted.

    `prompt_reused` counts the prompt tokens whose KV was reused in place (an exact prefix),
    `prompt_shifted` those a blend reused at a new position (approximate), and
    `prompt_recomputed` the prompt tokens actually decoded, as the KV session saw them.
    `first_token_s` is the time from the call to its first answer token (0 if none).
    `blend_fallback` says why a blend ran as an exact prefill ("" if it did not fall back).
    `confirm_redrafted` says a confirmation found that the exact prompt opens the shown answer
    otherwise and redrafted the older answer instead (`Engine.stream_confirm`).
    `truncated` says the answer stopped early because the context window was full.
    `ended` says the answer ended at an end of generation (the model's own, or the old answer's
    end held by the policy) rather than at the token limit; `held_end` says the latter.
    `quoted` counts the rewritten tokens that were verified in a window drafted from the prompt.
    """

    prompt_tokens: int = 0
    prompt_reused: int = 0
    prompt_shifted: int = 0
    prompt_recomputed: int = 0
    emitted: int = 0
    held: int = 0
    rewritten: int = 0
    quoted: int = 0
    divergences: int = 0
    windows: int = 0
    rollbacks: int = 0
    reanchors: int = 0
    wall_s: float = 0.0
    first_token_s: float = 0.0
    truncated: bool = False
    ended: bool = False
    held_end: bool = False
    blend_fallback: str = ""
    confirm_redrafted: bool = False
    time: Timings = field(default_factory=Timings)

    @property
    def held_fraction(self) -> float:
        return self.held / self.emitted if self.emitted else 0.0

    @property
    def answer_s(self) -> float:
        """Wall time after the prompt was processed."""
        return max(0.0, self.wall_s - self.time.prefill)

    @property
    def serial_s_per_token(self) -> float | None:
        """Seconds per serially decoded token in this call, if it decoded any serially."""
        t = self.time
        return t.serial / t.serial_tokens if t.serial > 0 and t.serial_tokens > 0 else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["held_fraction"] = self.held_fraction
        d["answer_s"] = self.answer_s
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Stats saved by `to_dict` (unknown keys ignored, missing ones zero); ValueError if a
        value has the wrong type."""
        def pick(kind: type, raw: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for f in fields(kind):
                if f.name not in raw or f.name == "time":
                    continue
                value, default = raw[f.name], f.default
                if isinstance(default, (bool, str)) or isinstance(value, (bool, str)):
                    ok = type(value) is type(default)
                elif isinstance(default, int):
                    ok = type(value) is int
                else:
                    ok = isinstance(value, (int, float))
                if not ok:
                    raise ValueError(f"stats field {f.name!r} has the wrong type")
                out[f.name] = value
            return out

        time = data.get("time", {})
        if not isinstance(time, dict):
            raise ValueError("stats field 'time' is not an object")
        return cls(**pick(cls, data), time=Timings(**pick(Timings, time)))
