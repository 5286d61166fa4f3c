"""The answer's opening tokens take the first token's rule: a coin flip there is held only when
the edit inserted no content.

Built from the suite's `fact-rezoning-status-canary` on Gemma 3 (a base model): the old answer
never says what the council did. Under the edited document the fresh answer quotes the first
sentence, "The Millbrook rezoning was approved ...". The first token "The" matches; the second
was a coin flip both times: the old " mill" won by 0.01 logits, and under the edit " Mill" (of
Millbrook) leads by less than the measured noise. Held as a near-tie, it sends the answer down
the old path and "approved" never appears. The edit inserted content ("approved"), so with
the default start probation the opening is held on exact match only; the control (an opening
of one token) must lose the fact.
"""

from __future__ import annotations

import pytest
from helpers.models import PINNED_WINDOW, gemma_path
from helpers.recorded_draft import recorded_draft
from helpers.suites import CASES
from redraft_engine import Engine
from redraft_engine.defaults import DEFAULT_START_PROBATION

from redraft_cli.bench.cases import load_suite

pytestmark = [pytest.mark.model, pytest.mark.gemma, pytest.mark.slow]

ANSWER_TOKENS = 48


# The old answer as Gemma 3 generated it on a machine without AVX-512, where its second token
# " mill" won by 0.012 logits. A machine with AVX-512 decides that coin flip the other way and
# answers on topic ("... was postponed ..."), so the draft is fixed here instead of generated:
# the rule is tested on the old answer the suite measured, whatever the kernels of this CPU.
OLD_ANSWER = ("The mill was built in 1911 and was the largest paper mill in the United States. "
              "It was the site of the first paper mill in the United States, and the first "
              "paper mill in the world.")
OLD_SECOND_MARGIN = 0.012


@pytest.fixture(scope="module")
def rezoning():
    case = next(c for c in load_suite(CASES) if c.id == "fact-rezoning-status-canary")
    engine = Engine(gemma_path(), max_tokens=ANSWER_TOKENS, window=PINNED_WINDOW)
    # Every other margin unknown: no other old decision is a near-tie.
    old, state = recorded_draft(engine, OLD_ANSWER, case.prompt(case.before),
                                {1: OLD_SECOND_MARGIN})
    assert engine.model.text_pieces(old.tokens[:2]) == ["The", " mill"]  # the margin's token
    yield engine, case, old, state
    engine.close()


def redraft(rezoning, start_probation: int):
    engine, case, old, state = rezoning
    engine.start_probation = start_probation
    assert engine.import_state(*state)
    return engine.redraft(case.prompt(case.after), old)


def test_the_fresh_answer_states_the_new_outcome(rezoning):
    engine, case, _, state = rezoning
    assert engine.import_state(*state)
    assert "approved" in engine.generate(case.prompt(case.after)).text


def test_the_opening_probation_lets_the_new_outcome_through(rezoning):
    assert DEFAULT_START_PROBATION >= 2
    old = rezoning[2]
    new = redraft(rezoning, DEFAULT_START_PROBATION)
    assert new.tokens[0] == old.tokens[0] and new.tokens[1] != old.tokens[1]
    assert "approved" in new.text


def test_control_with_only_the_first_token_strict_the_old_path_is_kept(rezoning):
    old = rezoning[2]
    new = redraft(rezoning, 1)
    assert new.tokens[:2] == old.tokens[:2]  # " mill", held by the band (0.41 behind)
    assert "approved" not in new.text
