"""Stability on the real default model: an edit that changes no meaning keeps the answer.

A double space changes no word, so the copied words of the answer are not guarded; where they
were (ablation `kept_words`), the near-tie rule holds a guarded token whose old decision and
new gap both lie within the model's measured batched-versus-serial noise. The control switches
both off: no kept-words trust, and noise 0 or an old answer without margins.
"""

from __future__ import annotations

import pytest
from helpers.log_report import REPORT_TASK, double_space_near_end, service_log
from helpers.models import smollm_path
from redraft_engine import Draft, Engine
from redraft_engine.rules import TolerantRule

pytestmark = pytest.mark.model

ANSWER_TOKENS = 160
# Pinned: which window boundaries a near-tie falls on decides whether the rule is needed, and the
# default windows follow the cost table measured on the machine. With 16 (and 32), the rule off
# held 144/160 at every tested position but two; the rule held 160/160 at all of them.
WINDOW = 16


@pytest.fixture(scope="module")
def report():
    engine = Engine(smollm_path(), max_tokens=ANSWER_TOKENS, window=WINDOW)
    doc = service_log()
    assert 850 <= engine.count_tokens(doc) <= 950
    old = engine.generate(REPORT_TASK + doc)
    assert len(old.tokens) == ANSWER_TOKENS
    state = engine.export_state()
    yield engine, old, state
    engine.close()


def redraft_from(report, draft, *, noise=None, rule=None):
    engine, old, state = report
    measured = engine.noise
    engine.noise = measured if noise is None else noise
    try:
        assert engine.import_state(*state)
        return engine.redraft(REPORT_TASK + double_space_near_end(service_log()), draft,
                              rule=rule or TolerantRule())
    finally:
        engine.noise = measured


def test_the_noise_is_measured_not_assumed(report):
    engine, _, _ = report
    assert 0.05 < engine.noise < 2.0  # SmolLM2 Q4_1 here: about 0.37 logits


def test_margins_are_recorded_per_token(report):
    _, old, _ = report
    assert len(old.margins) == len(old.tokens)
    assert all(m >= 0 for m in old.margins)  # a fresh answer emits the argmax everywhere
    assert any(m < 1.0 for m in old.margins) and max(old.margins) > 3.0


def test_a_double_space_near_the_end_keeps_the_report(report):
    _, old, _ = report
    kept = redraft_from(report, old)
    assert kept.stats.held >= 0.95 * ANSWER_TOKENS, kept.stats


def test_the_double_space_control_needs_the_near_tie_rule_or_the_kept_words_trust(report):
    _, old, _ = report
    untrusting = TolerantRule(ablate=frozenset({"kept_words"}))
    unknown = redraft_from(report, Draft(old.tokens, old.messages), rule=untrusting)
    without_rule = redraft_from(report, old, noise=0.0, rule=untrusting)
    if unknown.stats.held == without_rule.stats.held == ANSWER_TOKENS:
        # Seen on a CPU without AVX-512: no guarded decision of this answer moves outside the
        # exact match there, so neither feature has anything to hold and this control shows
        # nothing.
        pytest.skip("on this machine the double space disturbs no guarded near-tie")
    assert unknown.stats.held < 0.95 * ANSWER_TOKENS
    assert without_rule.stats.held < 0.95 * ANSWER_TOKENS


def test_the_near_tie_rule_alone_keeps_the_double_space_report(report):
    _, old, _ = report
    kept = redraft_from(report, old, rule=TolerantRule(ablate=frozenset({"kept_words"})))
    assert kept.stats.held >= 0.95 * ANSWER_TOKENS, kept.stats
