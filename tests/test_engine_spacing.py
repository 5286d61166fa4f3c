"""An edit that changes only spacing, on the real default model: the answer is kept.

In the suite case doc-policy-whitespace-middle, a double space in the middle of a memo flips
SmolLM2's fresh first token ("The" to "MEMO", outside the noise) and the fresh answer becomes a
copy of the memo. Only the band at the first token, allowed when the edit changed no word,
keeps the summary; the control forces `words_kept` off.

That flip is a near-tie settled by the machine's arithmetic: on a CPU without AVX-512 both the
old and the fresh answer start with "MEMO", so the test checks its premise first and skips
where it does not hold (the fake-model tests in test_replay_properties.py cover the rule on
every machine).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers.models import smollm_path
from redraft_engine import Engine
from redraft_engine.rules import TolerantRule

from redraft_cli.bench.cases import load_suite

pytestmark = pytest.mark.model

CASES = Path(__file__).resolve().parent.parent / "cases"
ANSWER_TOKENS = 256
WINDOW = 16  # pinned: the default windows follow a cost table measured on each machine


class WordsChangedRule(TolerantRule):
    """The default rule, told that the edit changed a word (the first-token control)."""

    def prepare(self, edit):
        return replace(super().prepare(edit), words_kept=False)


@pytest.fixture(scope="module")
def engine():
    eng = Engine(smollm_path(), max_tokens=ANSWER_TOKENS, window=WINDOW)
    yield eng
    eng.close()


def suite_case(case_id):
    (case,) = [c for c in load_suite(CASES) if c.id == case_id]
    return case


def first_token(engine, prompt):
    engine.reset()
    return engine.generate(prompt, max_tokens=1).tokens[0]


def redraft_case(engine, case_id, rule):
    case = suite_case(case_id)
    engine.reset()
    old = engine.generate(case.prompt(case.before))
    assert len(old.tokens) == ANSWER_TOKENS
    return engine.redraft(case.prompt(case.after), old, rule=rule)


def test_a_double_space_keeps_the_first_token_and_the_summary(engine):
    case = suite_case("doc-policy-whitespace-middle")
    old_first = first_token(engine, case.prompt(case.before))
    if first_token(engine, case.prompt(case.after)) == old_first:
        pytest.skip("on this machine the double space does not flip the fresh first token")
    kept = redraft_case(engine, "doc-policy-whitespace-middle", TolerantRule())
    assert kept.stats.held_fraction >= 0.9, kept.stats
    control = redraft_case(engine, "doc-policy-whitespace-middle", WordsChangedRule())
    assert control.stats.held_fraction <= 0.5, control.stats
