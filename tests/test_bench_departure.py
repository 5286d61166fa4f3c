"""Where a redraft arm's answer leaves fresh's, and the regressions counted at a coin flip."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from redraft_cli.bench.arms import ARMS, ArmRun, CaseRun
from redraft_cli.bench.cases import Case
from redraft_cli.bench.departure import Departure, departure
from redraft_cli.bench.report import departure_table
from redraft_cli.bench.results import OVERALL, case_result, summarize

GOOD = "The bridge opens on April 3."
STALE = "The bridge opens on March 14."
CASE = Case(id="c", category="doc_summary", task="summarize",
            before="The bridge opens on March 14.", after="The bridge opens on April 3.",
            expect=("April 3",), forbid=(), question=None, source=Path("x.json"), extra={})


def test_departure_is_the_first_differing_token_with_both_margins():
    d = departure([1, 2, 3, 4], [3.0, 0.1, 2.0, 1.0], [1, 2, 9, 4], [3.0, 0.2, -0.4, 1.0])
    assert d == Departure(2, 2.0, -0.4)


def test_identical_answers_do_not_depart():
    assert departure([1, 2], [1.0, 1.0], [1, 2], [1.0, 1.0]) is None


def test_an_answer_that_ends_early_departs_where_it_ended():
    d = departure([1, 2, 3], [1.0, 0.5, 2.0], [1, 2], [1.0, 0.5])
    assert d == Departure(2, 2.0, None)
    d = departure([1], [1.0], [1, 2], [1.0, 0.7])
    assert d == Departure(1, None, 0.7)  # fresh's end-of-generation margin is not recorded


def test_an_unknown_margin_is_none_and_never_a_coin_flip():
    d = departure([1, 2], [1.0, math.nan], [1, 3], [1.0, 0.1])
    assert d == Departure(1, None, 0.1)
    assert not d.at_coin_flip(10.0)


def test_a_coin_flip_is_a_fresh_margin_within_the_noise():
    assert Departure(0, 0.2, 0.0).at_coin_flip(0.3)
    assert Departure(0, 0.3, 0.0).at_coin_flip(0.3)
    assert not Departure(0, 0.31, 0.0).at_coin_flip(0.3)


def _arm(text: str, tokens: tuple[int, ...], margins: tuple[float, ...]) -> ArmRun:
    return ArmRun(text=text, wall_s=1.0, prompt_s=0.2, answer_s=0.8, tokens=len(tokens),
                  held_fraction=0.0, prompt_tokens=50, prompt_reused=40, prompt_shifted=0,
                  prompt_recomputed=10, token_ids=tokens, margins=margins)


def _run(fresh_margin: float, *, cold: str = GOOD) -> CaseRun:
    """Fresh says GOOD (tokens 1 2 3); the blend says STALE, leaving fresh at the second token,
    which fresh chose by `fresh_margin`."""
    fresh = _arm(GOOD, (1, 2, 3), (4.0, fresh_margin, 4.0))
    stale = _arm(STALE, (1, 7, 3), (4.0, 0.05, 4.0))
    run = CaseRun(CASE, _arm(GOOD, (1, 2, 3), (4.0, 1.0, 4.0)))
    for name in ARMS:
        run.runs[name] = [fresh]
    run.runs["blend"] = [stale]
    run.runs["cold"] = [fresh if cold == GOOD else replace(stale, text=cold)]
    return run


def test_a_regression_that_left_fresh_within_the_noise_counts_at_a_coin_flip():
    result = case_result(_run(0.1))
    assert result.regression_arms == ["blend"]
    assert result.arms["blend"].departure == Departure(1, 0.1, 0.05)
    assert result.arms["tolerant"].departure is None
    summary = summarize([result], noise=0.3)[OVERALL]
    assert summary["regressions_at_coin_flip_by_arm"] == {"exact": 0, "tolerant": 0, "blend": 1}


def test_control_a_regression_that_left_a_clear_fresh_decision_is_not_a_coin_flip():
    summary = summarize([case_result(_run(1.5))], noise=0.3)[OVERALL]
    assert summary["regressions_by_arm"]["blend"] == 1
    assert summary["regressions_at_coin_flip_by_arm"]["blend"] == 0


def test_without_a_noise_the_summary_makes_no_coin_flip_claim():
    assert "regressions_at_coin_flip_by_arm" not in summarize([case_result(_run(0.1))])[OVERALL]


def test_cold_failing_a_check_fresh_passes_is_the_noise_floor():
    result = case_result(_run(0.1, cold=STALE))
    assert result.cold_regressed == ("+'April 3'",)
    # Cold is a baseline, never a redraft regression; a check it fails too is numerics alone,
    # so blend's loss of it is strict, not attributable.
    assert result.regression_arms == [] and result.strict_regression_arms == ["blend"]
    assert summarize([result])[OVERALL]["cold_regressions"] == 1
    assert summarize([case_result(_run(0.1))])[OVERALL]["cold_regressions"] == 0


def test_the_departure_table_lists_each_regression_with_its_margins():
    from rich.console import Console

    def rows(result):
        table = departure_table([result], noise=0.3)
        assert table is not None
        console = Console(width=200, record=True)
        console.print(table)
        lines = [line for line in console.export_text().splitlines() if line.startswith("│")]
        return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines]

    assert rows(case_result(_run(0.1))) == [["c", "blend", "+'April 3'", "1", "0.10", "0.05",
                                             "yes"]]
    # Where cold loses the check too, only cold's row is listed.
    assert rows(case_result(_run(0.1, cold=STALE))) == [
        ["c", "cold", "+'April 3'", "1", "0.10", "0.05", "yes"]]
    clean = _run(0.1)
    clean.runs["blend"] = clean.runs["fresh"]
    assert departure_table([case_result(clean)], noise=0.3) is None
