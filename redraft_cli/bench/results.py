"""Per-case results and per-category summaries from raw arm runs (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from rapidfuzz import fuzz

from .arms import ARMS, REDRAFT_ARMS, ArmRun, CaseRun
from .cases import CATEGORIES
from .checks import attributable_checks, case_checks, failed, regressions
from .departure import Departure, departure
from .stability import kept_apart_from_edit, stability
from .tail import slow_tail

OVERALL = "all"
# Keys of a case's extra fields worth carrying into reports.
LABELS = ("edit", "where", "canary")


@dataclass(frozen=True)
class ArmResult:
    """One arm of one case: medians over repeats for times, the checks over every text."""

    wall_s: float
    prompt_s: float
    answer_s: float
    tokens: int
    held_fraction: float
    passed: bool
    similarity: float
    stable: bool
    failed: tuple[str, ...]
    text: str
    prompt_tokens: int
    prompt_reused: int
    prompt_shifted: int
    prompt_recomputed: int
    departure: Departure | None = None  # where the first text leaves fresh's (None: same)
    held_end: bool = False  # the first text ended at the old answer's end, held

    @property
    def recomputed_share(self) -> float | None:
        """Prompt tokens decoded / prompt tokens."""
        return self.prompt_recomputed / self.prompt_tokens if self.prompt_tokens else None

    @property
    def s_per_token(self) -> float | None:
        return self.answer_s / self.tokens if self.tokens else None

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s, "prompt_s": self.prompt_s, "answer_s": self.answer_s,
            "tokens": self.tokens, "held_fraction": self.held_fraction, "passed": self.passed,
            "similarity": self.similarity, "stable": self.stable, "failed": list(self.failed),
            "answer_s_per_token": self.s_per_token, "prompt_tokens": self.prompt_tokens,
            "prompt_reused": self.prompt_reused, "prompt_shifted": self.prompt_shifted,
            "prompt_recomputed": self.prompt_recomputed, "text": self.text,
            "departure": None if self.departure is None else self.departure.to_json(),
            "held_end": self.held_end,
        }


@dataclass(frozen=True)
class CaseResult:
    id: str
    category: str
    labels: dict[str, Any]
    arms: dict[str, ArmResult]
    old_text: str
    old_failed: tuple[str, ...]
    regressed: dict[str, tuple[str, ...]]  # attributable (cold passes them too), per redraft arm
    strict_regressed: dict[str, tuple[str, ...]]
    kept_apart_from_edit: bool  # the tolerant answer's words changed only where the doc's did
    # Attributable checks fresh passes and cold fails: the two compute the same answer exactly
    # and differ only in the batch shape of the prompt's decode (the floor of what numerics
    # alone do to the checks).
    cold_regressed: tuple[str, ...] = ()

    @property
    def regression_arms(self) -> list[str]:
        return [arm for arm in REDRAFT_ARMS if self.regressed[arm]]

    @property
    def strict_regression_arms(self) -> list[str]:
        return [arm for arm in REDRAFT_ARMS if self.strict_regressed[arm]]

    @property
    def regression(self) -> bool:
        return bool(self.regression_arms)

    @property
    def strict_regression(self) -> bool:
        return bool(self.strict_regression_arms)

    def speedup(
        self, arm: str, baseline: str, *, answer_side: bool = False, prompt_side: bool = False
    ) -> float | None:
        """Baseline time / arm time (end-to-end wall, the answer side or the prompt side)."""
        if prompt_side:
            pick = lambda r: r.prompt_s  # noqa: E731
        else:
            pick = (lambda r: r.answer_s) if answer_side else (lambda r: r.wall_s)
        num, den = pick(self.arms[baseline]), pick(self.arms[arm])
        return num / den if den > 0 else None

    def per_token_speedup(self, arm: str, baseline: str) -> float | None:
        """Baseline answer time per emitted token / the arm's: a comparison at equal work."""
        num, den = self.arms[baseline].s_per_token, self.arms[arm].s_per_token
        return num / den if num and den else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "category": self.category, **self.labels,
            "arms": {arm: r.to_json() for arm, r in self.arms.items()},
            "regression": self.regression, "regression_arms": self.regression_arms,
            "strict_regression": self.strict_regression,
            "strict_regression_arms": self.strict_regression_arms,
            "regressed_checks": {a: list(c) for a, c in self.regressed.items()},
            "strict_regressed_checks": {a: list(c) for a, c in self.strict_regressed.items()},
            "cold_regressed_checks": list(self.cold_regressed),
            "speedup_vs_fresh": {a: self.speedup(a, "fresh") for a in REDRAFT_ARMS},
            "speedup_vs_cold": {a: self.speedup(a, "cold") for a in ("fresh", *REDRAFT_ARMS)},
            "old": {"text": self.old_text, "failed": list(self.old_failed)},
            "kept_apart_from_edit": self.kept_apart_from_edit,
        }


def case_result(run: CaseRun) -> CaseResult:
    case = run.case
    checks = case_checks(case.expect, case.forbid)
    texts = {arm: _distinct(r.text for r in run.runs[arm]) for arm in ARMS}
    fresh = run.runs["fresh"][0]
    arms = {arm: _arm_result(run.runs[arm], checks, texts[arm], fresh) for arm in ARMS}
    counted = attributable_checks(checks, case.before, run.old.text)
    cold_regressed = regressions(counted, texts["fresh"], texts["cold"])
    counted_for_redrafts = [c for c in counted if c not in cold_regressed]
    return CaseResult(
        id=case.id,
        category=case.category,
        labels={k: case.extra[k] for k in LABELS if k in case.extra},
        arms=arms,
        old_text=run.old.text,
        old_failed=tuple(str(c) for c in failed(checks, [run.old.text])),
        regressed={
            arm: tuple(str(c) for c in regressions(counted_for_redrafts, texts["fresh"],
                                                   texts[arm]))
            for arm in REDRAFT_ARMS
        },
        strict_regressed={
            arm: tuple(str(c) for c in regressions(checks, texts["fresh"], texts[arm]))
            for arm in REDRAFT_ARMS
        },
        cold_regressed=tuple(str(c) for c in cold_regressed),
        kept_apart_from_edit=all(
            kept_apart_from_edit(run.old.text, r.text, case.before, case.after)
            for r in run.runs["tolerant"]
        ),
    )


def _distinct(texts: Any) -> list[str]:
    return list(dict.fromkeys(texts))


def _arm_result(runs: Sequence[ArmRun], checks: Any, texts: list[str], fresh: ArmRun
                ) -> ArmResult:
    first = runs[0]
    fails = failed(checks, texts)
    left = None
    if first is not fresh and (first.token_ids or fresh.token_ids):
        left = departure(fresh.token_ids, fresh.margins, first.token_ids, first.margins)
    return ArmResult(
        wall_s=median(r.wall_s for r in runs),
        prompt_s=median(r.prompt_s for r in runs),
        answer_s=median(r.answer_s for r in runs),
        tokens=int(median(r.tokens for r in runs)),
        held_fraction=median(r.held_fraction for r in runs),
        passed=not fails,
        similarity=fuzz.ratio(first.text, fresh.text) / 100.0,
        stable=len(texts) == 1,
        failed=tuple(str(c) for c in fails),
        text=first.text,
        prompt_tokens=first.prompt_tokens,
        prompt_reused=first.prompt_reused,
        prompt_shifted=first.prompt_shifted,
        prompt_recomputed=int(median(r.prompt_recomputed for r in runs)),
        departure=left,
        held_end=first.held_end,
    )


# --- summaries ----------------------------------------------------------------------------

def summarize(results: Sequence[CaseResult], noise: float | None = None
              ) -> dict[str, dict[str, Any]]:
    """One summary per category present (in the suite's order), then `all` over every case.
    `noise` (the model's near-tie noise, logits) adds the count of regressions whose answer
    left fresh's where fresh chose by no more than that margin."""
    groups = {cat: [r for r in results if r.category == cat] for cat in CATEGORIES}
    summary = {cat: summarize_group(rs, noise) for cat, rs in groups.items() if rs}
    summary[OVERALL] = summarize_group(results, noise)
    return summary


def at_coin_flip(result: CaseResult, arm: str, noise: float) -> bool:
    """The arm's answer left fresh's where fresh chose its token within `noise` logits."""
    left = result.arms[arm].departure
    return left is not None and left.at_coin_flip(noise)


def summarize_group(results: Sequence[CaseResult], noise: float | None = None) -> dict[str, Any]:
    def per_arm(arms: Sequence[str], value: Callable[[CaseResult, str], float | None]) -> dict:
        return {arm: _median(value(r, arm) for r in results) for arm in arms}

    def count(arms: Sequence[str], hit: Callable[[CaseResult, str], bool]) -> dict[str, int]:
        return {arm: sum(1 for r in results if hit(r, arm)) for arm in arms}

    vs_cold = ("fresh", *REDRAFT_ARMS)
    return {
        "cases": len(results),
        "median_speedup_vs_fresh": per_arm(REDRAFT_ARMS, lambda r, a: r.speedup(a, "fresh")),
        "median_speedup_vs_cold": per_arm(vs_cold, lambda r, a: r.speedup(a, "cold")),
        "median_answer_speedup_vs_fresh": per_arm(
            REDRAFT_ARMS, lambda r, a: r.speedup(a, "fresh", answer_side=True)),
        "median_answer_speedup_vs_cold": per_arm(
            vs_cold, lambda r, a: r.speedup(a, "cold", answer_side=True)),
        "median_prompt_speedup_vs_fresh": per_arm(
            REDRAFT_ARMS, lambda r, a: r.speedup(a, "fresh", prompt_side=True)),
        "median_recomputed_share": per_arm(ARMS, lambda r, a: r.arms[a].recomputed_share),
        "median_per_token_speedup_vs_fresh": per_arm(
            REDRAFT_ARMS, lambda r, a: r.per_token_speedup(a, "fresh")),
        "median_held_fraction": per_arm(REDRAFT_ARMS, lambda r, a: r.arms[a].held_fraction),
        "median_answer_s_per_token": per_arm(ARMS, lambda r, a: r.arms[a].s_per_token),
        "median_wall_s": per_arm(ARMS, lambda r, a: r.arms[a].wall_s),
        "median_tokens": per_arm(ARMS, lambda r, a: r.arms[a].tokens),
        "total_tokens": {arm: sum(r.arms[arm].tokens for r in results) for arm in ARMS},
        "median_similarity_to_fresh": per_arm(
            ("cold", *REDRAFT_ARMS), lambda r, a: r.arms[a].similarity),
        "identical_to_fresh": count(
            ("cold", *REDRAFT_ARMS), lambda r, a: r.arms[a].text == r.arms["fresh"].text),
        "passed": count(ARMS, lambda r, a: r.arms[a].passed),
        "unstable_texts": count(ARMS, lambda r, a: not r.arms[a].stable),
        "regressions": sum(1 for r in results if r.regression),
        "regressions_by_arm": count(REDRAFT_ARMS, lambda r, a: bool(r.regressed[a])),
        "strict_regressions": sum(1 for r in results if r.strict_regression),
        "strict_regressions_by_arm": count(
            REDRAFT_ARMS, lambda r, a: bool(r.strict_regressed[a])),
        "cold_regressions": sum(1 for r in results if r.cold_regressed),
        **({} if noise is None else {"regressions_at_coin_flip_by_arm": count(
            REDRAFT_ARMS, lambda r, a: bool(r.regressed[a]) and at_coin_flip(r, a, noise))}),
        "slow_tail": {arm: slow_tail({r.id: r.speedup(arm, "fresh") for r in results})
                      for arm in REDRAFT_ARMS},
        "stability": stability([
            (r.labels.get("edit"),
             r.arms["tolerant"].held_fraction if r.arms["tolerant"].tokens else None,
             r.kept_apart_from_edit)
            for r in results
        ]),
    }


def _median(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None
