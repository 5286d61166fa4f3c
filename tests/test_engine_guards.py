"""The tolerant rule's guards on the real default model: stale facts must not survive an edit.

Every edit changes the right answer (a near-tie that the edit did not move is held on purpose:
see test_engine_stability.py). The cases were found by running SmolLM2-135M-Instruct on edits
and keeping those where the band alone (guards off) keeps the stale fact, so each test can
fail if a guard stops working.
"""

from __future__ import annotations

import pytest
from helpers.models import PINNED_WINDOW, smollm_path
from redraft_engine import Engine, TolerantRule

pytestmark = pytest.mark.model

ANSWER = (
    "Answer the question using only the document below. Reply with a short sentence.\n"
    "Question: {question}\n\n{document}"
)
SUMMARIZE = (
    "Summarize the following document in a short paragraph. "
    "Keep names, numbers and dates exactly as the document gives them.\n\n{document}"
)


def population_table(rows: list[tuple[str, int]]) -> str:
    return "| city | population |\n|---|---|\n" + "\n".join(
        f"| {city} | {thousands},000 |" for city, thousands in rows
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(smollm_path(), window=PINNED_WINDOW)
    yield eng
    eng.close()


# Edits that change the right answer: the smallest city of the table is renamed. The answer
# is led to name the city mid-sentence, past the first tokens (which only an exact match or a
# near-tie may hold anyway). This model's band already rejects the old name there, so the
# control is a band wide enough to hold any top-100 token (as for numbers below): without
# guards it keeps the old name, with them the new one comes out. (Top-20 was not enough: on
# one machine " L" of the old "Lille" ranked 21st under the edited prompt, 4.7 logits down.)
UNGUARDED = frozenset({"guards", "inserted_veto", "removed_veto"})
WIDE = {"tau": 20.0, "floor": 20.0, "top_k": 100}
LEADING = (
    "Answer the question using only the document below. Reply with one sentence that starts "
    'with "The city with the smallest population is".\nQuestion: Which city has the smallest '
    "population?\n\n{document}"
)
SMALL = [("Toulouse", 480), ("Nice", 340), ("Lille", 230)]
RENAMES = ["Bordeaux", "Brest"]


@pytest.mark.parametrize("new_name", RENAMES)
def test_copy_guard_emits_the_fresh_entity(engine, new_name):
    before = LEADING.format(document=population_table(SMALL))
    after = LEADING.format(document=population_table(SMALL[:2] + [(new_name, 230)]))
    lead = "The city with the smallest population is "
    old = engine.generate(before, max_tokens=40)
    fresh = engine.generate(after, max_tokens=40)
    assert old.text.startswith(lead + "Lille") and fresh.text.startswith(lead + new_name)

    unguarded = TolerantRule(**WIDE, ablate=UNGUARDED)
    kept = engine.redraft(after, old, rule=unguarded, max_tokens=40)
    assert kept.text.startswith(lead + "Lille"), "control: without guards the old name stays"

    guarded = engine.redraft(after, old, rule=TolerantRule(**WIDE), max_tokens=40)
    assert guarded.text.startswith(lead + new_name)
    assert "Lille" not in guarded.text
    assert guarded.stats.held > 0  # the rest of the sentence is still replayed


def test_confirmation_re_derives_what_the_edit_removed(engine):
    """watch confirms a blended answer by re-verifying it over an exact prefill. Given the edit
    the answer was redrafted for, the guards see the renamed city as a removed word; the
    control, a confirmation that only knows the new prompt, lets the band hold it."""
    before = LEADING.format(document=population_table(SMALL))
    after = LEADING.format(document=population_table(SMALL[:2] + [("Brest", 230)]))
    shown = engine.generate(before, max_tokens=40)  # an answer that kept the old fact
    assert "Lille" in shown.text
    rule = TolerantRule(**WIDE)
    blind = engine.stream_confirm(after, shown, rule=rule, max_tokens=40).run()
    assert "Lille" in blind.text, "control: without the edit nothing guards the old name"
    confirmed = engine.stream_confirm(after, shown, edited_from=before, rule=rule,
                                      max_tokens=40).run()
    assert "Lille" not in confirmed.text and "Brest" in confirmed.text
    assert confirmed.stats.prompt_shifted == 0 and confirmed.stats.held > 0


def test_a_confirmation_redrafts_the_old_answer_where_the_exact_prompt_opens_otherwise():
    """A blended answer can open at the approximate cache's coin flip and follow it for the
    whole answer. Given the old answer, the confirmation holds the shown opening only where the
    exact cache chooses it, and otherwise redrafts the old answer over the exact cache, as a
    redraft with exact prompt reuse does. The shown answer here is one that opens at such a
    coin flip: an answer to another prompt about the same note, whose first token ("The")
    trails the exact cache's ("Att") by about 0.1 logits on this model. The control, a
    confirmation without the old answer, holds that opening as a near-tie and keeps the shown
    answer, invented place and year and all."""
    attendance = NUMBER_EDITS[2][0]
    before = SUMMARIZE.format(document=attendance.format("8,400"))
    after = SUMMARIZE.format(document=attendance.format("9,100"))
    elsewhere = "List the facts in this note.\n\n" + attendance.format("9,100")
    # A noise wider than the measured one (0.3-0.4 here) keeps the near-tie independent of
    # the machine's calibration; the same engine computes every answer below.
    eng = Engine(smollm_path(), window=PINNED_WINDOW, noise=1.0)
    try:
        old = eng.generate(before, max_tokens=60)
        shown = eng.generate(elsewhere, max_tokens=60)
        eng.generate(after, max_tokens=1)  # the cache holds `after` exactly, as after a confirm
        redrafted = eng.redraft(after, old, max_tokens=60)
        assert redrafted.tokens[0] != shown.tokens[0], "the exact cache must open otherwise"
        assert "9,100" in redrafted.text

        blind = eng.stream_confirm(after, shown, edited_from=before, max_tokens=60).run()
        assert blind.tokens == shown.tokens, "control: without the old answer it is held"

        confirmed = eng.stream_confirm(after, shown, redrafted_from=old, max_tokens=60).run()
        assert confirmed.tokens == redrafted.tokens and "9,100" in confirmed.text
        assert confirmed.stats.confirm_redrafted and not blind.stats.confirm_redrafted
    finally:
        eng.close()


def test_a_confirmation_keeps_an_answer_the_exact_prompt_opens_the_same_way(engine):
    """The other side: an answer whose opening the exact cache chooses is re-verified, not
    redrafted again, and an answer computed over the exact cache is confirmed unchanged."""
    before = LEADING.format(document=population_table(SMALL))
    after = LEADING.format(document=population_table(SMALL[:2] + [("Brest", 230)]))
    old = engine.generate(before, max_tokens=40)
    shown = engine.redraft(after, old, max_tokens=40)
    confirmed = engine.stream_confirm(after, shown, redrafted_from=old, max_tokens=40).run()
    assert confirmed.tokens == shown.tokens and not confirmed.stats.confirm_redrafted
    assert confirmed.stats.held == len(shown.tokens)


NUMBER_EDITS = [
    ("The invoice endpoint handles {} requests per second in load tests; the target is 1,500. "
     "Ahmed will fix the slow database query before the freeze.", "1,200", "1,450"),
    ("The city council approved a budget of {} million dollars for the library renovation, "
     "which reopens in spring with a children's wing.", "4.2", "5.8"),
    ("Attendance at the spring fair reached {} visitors, the organisers said, up from last "
     "year thanks to the new tram line.", "8,400", "9,100"),
]
# On this model a copied digit trails the fresh one by far more than the default band, so the
# band alone already rejects a stale number here: the WIDE band is the control.


@pytest.mark.parametrize("template,old_value,new_value", NUMBER_EDITS,
                         ids=[e[1] for e in NUMBER_EDITS])
def test_a_changed_number_is_re_derived_not_held(engine, template, old_value, new_value):
    before = SUMMARIZE.format(document=template.format(old_value))
    after = SUMMARIZE.format(document=template.format(new_value))
    old = engine.generate(before, max_tokens=60)
    assert old_value in old.text  # the old answer quotes the old number
    new = engine.redraft(after, old, max_tokens=60)
    assert old_value not in new.text
    assert new_value in new.text
    assert new.stats.held > 0
    assert all(old_value not in s.text for s in new.spans if s.kind == "held")

    wide_unguarded = TolerantRule(**WIDE, ablate=UNGUARDED)
    stale = engine.redraft(after, old, rule=wide_unguarded, max_tokens=60)
    assert old_value in stale.text, "control: without guards the wide band keeps the old number"
    guarded = engine.redraft(after, old, rule=TolerantRule(**WIDE), max_tokens=60)
    assert old_value not in guarded.text and new_value in guarded.text


# A value the edit replaced, where the model hesitates over the number: the noise is set so
# wide that every decision counts as a near-tie both times (as on a base model that writes
# some other percentage), and the inserted-content veto is off in both arms (as where the
# fresh argmax is not the new value but a third one). Only the removed-word guard is left to
# keep the old value out; the control without it states the value the edit removed.
REMOVED_VALUE = ("Quarterly report. Revenue grew {} % over the year, driven by the new "
                 "subscription plan. The board approved a second office in Lyon.")


@pytest.mark.parametrize("old_value,new_value", [("12", "18"), ("4.5", "6.2")])
def test_a_value_the_edit_removed_is_held_only_where_it_is_the_argmax(old_value, new_value):
    eng = Engine(smollm_path(), window=PINNED_WINDOW, noise=12.0)
    try:
        before = SUMMARIZE.format(document=REMOVED_VALUE.format(old_value))
        after = SUMMARIZE.format(document=REMOVED_VALUE.format(new_value))
        old = eng.generate(before, max_tokens=40)
        assert old_value in old.text
        guarded = eng.redraft(after, old, rule=TolerantRule(ablate=frozenset({"inserted_veto"})),
                              max_tokens=40)
        assert old_value not in guarded.text and guarded.stats.held > 0
        unguarded = TolerantRule(ablate=frozenset({"inserted_veto", "removed_veto"}))
        control = eng.redraft(after, old, max_tokens=40, rule=unguarded)
        assert old_value in control.text, "control: as a near-tie the removed value is kept"
    finally:
        eng.close()
