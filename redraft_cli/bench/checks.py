"""Pass/fail checks of an answer and the two ways of counting regressions (pure functions).

A check is an `expect` string that must occur in the answer or a `forbid` string that must
not, both case-insensitive. Regressions compare a redraft arm with the `fresh` arm check by
check: a regression is a check that `fresh` passes and the redraft arm fails.

- strict: every check of the case counts;
- attributable: only checks the edit touched or the old answer passed count, i.e. an
  `expect` string absent from `before`, every `forbid` string, and any check the old answer
  (on `before`) passed. Greedy decoding is chaotic, so a fresh answer can gain a detail that
  neither the old answer nor the redraft had; that detail is not something redraft lost.
  A check `cold` fails as well does not count either: `cold` is fresh generation in another
  batch shape, so its failure shows what numerics alone do (results.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EXPECT = "expect"
FORBID = "forbid"


@dataclass(frozen=True)
class Check:
    kind: str  # EXPECT or FORBID
    text: str

    def passes(self, answer: str) -> bool:
        present = self.text.casefold() in answer.casefold()
        return present if self.kind == EXPECT else not present

    def __str__(self) -> str:
        return f"+{self.text!r}" if self.kind == EXPECT else f"-{self.text!r}"


def case_checks(expect: Iterable[str], forbid: Iterable[str]) -> tuple[Check, ...]:
    return tuple(Check(EXPECT, s) for s in expect) + tuple(Check(FORBID, s) for s in forbid)


def failed(checks: Sequence[Check], answers: Sequence[str]) -> list[Check]:
    """The checks that some answer fails (an arm's answer may differ between repeats)."""
    return [c for c in checks if not all(c.passes(a) for a in answers)]


def passed_somewhere(checks: Sequence[Check], answers: Sequence[str]) -> list[Check]:
    """The checks that at least one answer passes."""
    return [c for c in checks if any(c.passes(a) for a in answers)]


def attributable_checks(checks: Sequence[Check], before: str, old_answer: str) -> list[Check]:
    """The checks whose failure an edit or a replayed old answer can explain."""
    return [
        c for c in checks
        if c.kind == FORBID or c.text.casefold() not in before.casefold() or c.passes(old_answer)
    ]


def regressions(
    checks: Sequence[Check], fresh_answers: Sequence[str], arm_answers: Sequence[str]
) -> list[Check]:
    """Checks that `fresh` passes (in any repeat) and the arm fails (in any repeat).

    Taking fresh's best repeat and the arm's worst means unstable texts never hide a
    regression.
    """
    fresh_ok = set(passed_somewhere(checks, fresh_answers))
    return [c for c in failed(checks, arm_answers) if c in fresh_ok]
