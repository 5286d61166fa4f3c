"""Run one case's arms on a loaded engine: the only module here that drives the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cases import Case

if TYPE_CHECKING:
    from redraft_engine import Engine, Result

ARMS = ("cold", "fresh", "exact", "tolerant", "blend")
REDRAFT_ARMS = ("exact", "tolerant", "blend")
# blend: the tolerant rule over a blended prompt (the old KV past the edit kept, shifted).
RULE_OF_ARM = {"exact": "exact", "tolerant": "tolerant", "blend": "tolerant"}


@dataclass(frozen=True)
class ArmRun:
    """One timed call. Times come from the engine's own stats of that call."""

    text: str
    wall_s: float
    prompt_s: float
    answer_s: float
    tokens: int
    held_fraction: float
    prompt_tokens: int
    prompt_reused: int
    prompt_shifted: int
    prompt_recomputed: int
    token_ids: tuple[int, ...] = ()  # the answer's tokens, and the margins they were chosen at
    margins: tuple[float, ...] = ()
    held_end: bool = False  # the answer ended where the old answer ended, the model writing on


@dataclass
class CaseRun:
    case: Case
    old: ArmRun
    runs: dict[str, list[ArmRun]] = field(default_factory=lambda: {a: [] for a in ARMS})


def arm_order(turn: int, arms: tuple[str, ...] = ARMS) -> tuple[str, ...]:
    """Rotate the arms between turns, so no arm always runs first or after the same one."""
    k = turn % len(arms)
    return arms[k:] + arms[:k]


def run_case(
    engine: Engine,
    case: Case,
    repeats: int,
    on_step: Callable[[str], None] = lambda step: None,
    *,
    rotation: int = 0,
    arms: tuple[str, ...] = ARMS,
) -> CaseRun:
    """Answer `before` once, then run every arm on `after` `repeats` times.

    The arm order rotates with each repeat, starting at `rotation` (pass the case's index, so
    a single-repeat run still rotates across cases). `arms` may be a subset of ARMS (the
    others stay without runs).

    Each warm arm starts from the KV state a user's session would hold after the old answer
    (restored from a snapshot, outside the timed call); `cold` starts from an empty cache.
    """
    before, after = case.prompt(case.before), case.prompt(case.after)
    on_step("old")
    engine.reset()
    old = engine.generate(before)
    state = engine.export_state()
    run = CaseRun(case, _arm_run(old))
    for repeat in range(repeats):
        for arm in arm_order(rotation + repeat, arms):
            on_step(arm)
            if arm == "cold":
                engine.reset()
            elif not engine.import_state(*state):
                from redraft_engine import EngineError

                raise EngineError(f"case {case.id!r}: could not restore the old answer's KV state")
            run.runs[arm].append(_arm_run(_call(engine, arm, after, old)))
    return run


def _call(engine: Engine, arm: str, prompt: str, old: Result) -> Result:
    engine.prompt_reuse = "blend" if arm == "blend" else "exact"
    try:
        if arm in REDRAFT_ARMS:
            return engine.redraft(prompt, old, rule=RULE_OF_ARM[arm])
        return engine.generate(prompt)
    finally:
        engine.prompt_reuse = "exact"


def _arm_run(result: Result) -> ArmRun:
    s = result.stats
    return ArmRun(
        text=result.text, wall_s=s.wall_s, prompt_s=s.time.prefill, answer_s=s.answer_s,
        tokens=s.emitted, held_fraction=s.held_fraction, prompt_tokens=s.prompt_tokens,
        prompt_reused=s.prompt_reused, prompt_shifted=s.prompt_shifted,
        prompt_recomputed=s.prompt_recomputed, token_ids=tuple(result.tokens),
        margins=tuple(result.margins), held_end=s.held_end,
    )
