"""Regression counting, per-case results and summaries on hand-made arm runs (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redraft_cli.bench.arms import ARMS, ArmRun, CaseRun, arm_order
from redraft_cli.bench.cases import Case
from redraft_cli.bench.checks import (
    EXPECT,
    FORBID,
    Check,
    attributable_checks,
    case_checks,
    regressions,
)
from redraft_cli.bench.export import document, machine_info
from redraft_cli.bench.results import OVERALL, case_result, summarize
from redraft_cli.bench.stability import kept_apart_from_edit
from redraft_cli.bench.tail import slow_tail

BEFORE = "The Kestrel bridge opens on March 14. Mayor Lind will cut the ribbon."
AFTER = "The Kestrel bridge opens on April 3. Mayor Lind will cut the ribbon."


def make_case(expect=("April 3",), forbid=("March 14",), category="doc_summary", id="c"):
    return Case(id=id, category=category, task="summarize", before=BEFORE, after=AFTER,
                expect=tuple(expect), forbid=tuple(forbid), question=None,
                source=Path("x.json"), extra={"edit": "date-change"})


def arm(text, wall=1.0, prompt=0.2, tokens=10, held=0.0, recomputed=10):
    return ArmRun(text=text, wall_s=wall, prompt_s=prompt, answer_s=wall - prompt,
                  tokens=tokens, held_fraction=held, prompt_tokens=50, prompt_reused=40,
                  prompt_shifted=0, prompt_recomputed=recomputed)


def make_run(case, old, cold, fresh, exact, tolerant, blend=None) -> CaseRun:
    """Each arm argument is a text, or a list of texts (one per repeat); blend answers as
    fresh unless given."""
    run = CaseRun(case, arm(old))
    blend = fresh if blend is None else blend
    for name, texts in zip(ARMS, (cold, fresh, exact, tolerant, blend), strict=True):
        run.runs[name] = [arm(t) for t in ([texts] if isinstance(texts, str) else texts)]
    return run


# --- checks ---------------------------------------------------------------------------------

def test_checks_are_case_insensitive_substrings():
    assert Check(EXPECT, "April 3").passes("opens on april 3rd")
    assert not Check(EXPECT, "April 3").passes("opens in April")
    assert Check(FORBID, "March 14").passes("opens on April 3")
    assert not Check(FORBID, "March 14").passes("was MARCH 14, now April 3")


def test_attributable_checks_are_those_the_edit_touched_or_the_old_answer_passed():
    checks = case_checks(["April 3", "Lind", "ribbon"], ["March 14"])
    counted = attributable_checks(checks, BEFORE, old_answer="Lind opens the bridge.")
    # "April 3" is new text; "Lind" the old answer had; "ribbon" it never had; forbid always.
    assert [str(c) for c in counted] == ["+'April 3'", "+'Lind'", "-'March 14'"]


def test_regressions_take_fresh_at_its_best_and_the_arm_at_its_worst():
    checks = case_checks(["April 3"], [])
    assert regressions(checks, ["April 3", "no"], ["April 3", "no"]) == list(checks)
    assert regressions(checks, ["no", "no"], ["no"]) == []
    assert regressions(checks, ["April 3"], ["april 3"]) == []


def test_arm_order_rotates_every_arm_through_every_position():
    orders = [arm_order(r) for r in range(len(ARMS))]
    assert all(sorted(o) == sorted(ARMS) for o in orders)
    for position in range(len(ARMS)):
        assert {o[position] for o in orders} == set(ARMS)


# --- per-case regressions -------------------------------------------------------------------

GOOD = "The bridge opens on April 3, Mayor Lind said."
STALE = "The bridge opens on March 14, Mayor Lind said."


def test_stale_fact_kept_is_attributable_and_strict():
    r = case_result(make_run(make_case(), STALE, GOOD, GOOD, GOOD, STALE))
    assert r.regression and r.strict_regression
    assert r.regression_arms == ["tolerant"] and r.strict_regression_arms == ["tolerant"]
    assert r.regressed["tolerant"] == ("+'April 3'", "-'March 14'")
    assert not r.arms["tolerant"].passed and r.arms["exact"].passed


def test_detail_only_fresh_gained_is_strict_but_not_attributable():
    # "ribbon" is in `before`, the old answer never said it, fresh happens to say it.
    case = make_case(expect=["ribbon"], forbid=[])
    old = "The bridge opens soon."
    r = case_result(make_run(case, old, "x", "ribbon at the bridge", "x", "x"))
    assert r.strict_regression and r.strict_regression_arms == ["exact", "tolerant"]
    assert not r.regression


def test_detail_the_old_answer_had_and_the_redraft_dropped_is_attributable():
    case = make_case(expect=["Lind"], forbid=[])
    r = case_result(make_run(case, "Lind speaks.", "Lind", "Lind", "Lind", "The mayor"))
    assert r.regression and r.regression_arms == ["tolerant"]


def test_a_check_cold_generation_fails_too_is_not_attributable():
    """Cold is fresh generation over another batch shape: where it loses the check as well,
    numerics alone explain the loss (it stays strict)."""
    r = case_result(make_run(make_case(), STALE, STALE, GOOD, GOOD, STALE))
    assert not r.regression and r.strict_regression_arms == ["tolerant"]
    assert r.cold_regressed == ("+'April 3'", "-'March 14'")
    # Control: the same tolerant answer where cold passes.
    assert case_result(make_run(make_case(), STALE, GOOD, GOOD, GOOD, STALE)).regression


def test_no_regression_where_fresh_fails_the_same_check():
    r = case_result(make_run(make_case(), STALE, STALE, STALE, STALE, STALE))
    assert not r.regression and not r.strict_regression
    assert not r.arms["fresh"].passed


def test_a_failure_in_any_repeat_counts_and_marks_the_arm_unstable():
    r = case_result(make_run(make_case(), STALE, GOOD, [GOOD, GOOD], GOOD, [GOOD, STALE]))
    assert r.regression_arms == ["tolerant"]
    assert not r.arms["tolerant"].stable and r.arms["fresh"].stable
    assert r.arms["tolerant"].text == GOOD  # the first repeat's text is reported


def test_the_blend_arm_is_judged_like_the_other_redrafts():
    r = case_result(make_run(make_case(), STALE, GOOD, GOOD, GOOD, GOOD, blend=STALE))
    assert r.regression_arms == ["blend"] and r.regressed["blend"] == ("+'April 3'", "-'March 14'")


def test_the_prompt_side_speedup_and_decoded_share():
    run = timed_run(make_case(), (4.0, 2.0, 2.0, 1.0))
    run.runs["blend"] = [arm(GOOD, wall=0.6, prompt=0.05, recomputed=5)]
    r = case_result(run)
    assert r.speedup("blend", "fresh", prompt_side=True) == pytest.approx(0.2 / 0.05)
    s = summarize([r])[OVERALL]
    assert s["median_recomputed_share"]["blend"] == pytest.approx(0.1)
    assert s["median_prompt_speedup_vs_fresh"]["blend"] == pytest.approx(4.0)


def test_similarity_is_against_the_fresh_text():
    r = case_result(make_run(make_case(), GOOD, GOOD, GOOD, GOOD, "zzzz"))
    assert r.arms["exact"].similarity == 1.0
    assert r.arms["tolerant"].similarity < 0.2


# --- medians and summaries ------------------------------------------------------------------

def timed_run(case, walls, tokens=(10, 10, 10, 10), held=(0.0, 0.0, 0.5, 0.8), repeats=1):
    """Arms cold, fresh, exact, tolerant as given; blend as tolerant."""
    run = CaseRun(case, arm(GOOD))
    walls, tokens, held = (*walls, walls[-1]), (*tokens, tokens[-1]), (*held, held[-1])
    for name, wall, n, h in zip(ARMS, walls, tokens, held, strict=True):
        run.runs[name] = [arm(GOOD, wall=wall, tokens=n, held=h) for _ in range(repeats)]
    return run


def test_times_are_medians_over_repeats():
    run = timed_run(make_case(), (4.0, 2.0, 2.0, 1.0))
    run.runs["tolerant"] = [arm(GOOD, wall=w, prompt=0.2) for w in (1.0, 9.0, 2.0)]
    r = case_result(run)
    assert r.arms["tolerant"].wall_s == 2.0
    assert r.arms["tolerant"].answer_s == pytest.approx(1.8)
    assert r.speedup("tolerant", "fresh") == pytest.approx(1.0)
    assert r.speedup("tolerant", "cold") == pytest.approx(2.0)
    assert r.speedup("tolerant", "fresh", answer_side=True) == pytest.approx(1.8 / 1.8)


def test_summary_medians_per_category_and_overall():
    results = [
        case_result(timed_run(make_case(id="d1"), (8.0, 4.0, 4.0, 2.0))),   # tol 2x fresh
        case_result(timed_run(make_case(id="d2"), (8.0, 4.0, 2.0, 1.0))),   # tol 4x fresh
        case_result(timed_run(make_case(id="d3"), (6.0, 3.0, 3.0, 3.0),
                              tokens=(10, 10, 12, 20), held=(0, 0, 0.1, 0.3))),
        case_result(make_run(make_case(id="f1", category="fact_answer"),
                             STALE, GOOD, GOOD, GOOD, STALE)),
    ]
    summary = summarize(results)
    assert list(summary) == ["doc_summary", "fact_answer", OVERALL]
    doc = summary["doc_summary"]
    assert doc["cases"] == 3
    assert doc["median_speedup_vs_fresh"] == {"exact": 1.0, "tolerant": 2.0, "blend": 2.0}
    assert doc["median_speedup_vs_cold"] == {"fresh": 2.0, "exact": 2.0, "tolerant": 4.0,
                                             "blend": 4.0}
    assert doc["median_held_fraction"] == {"exact": 0.5, "tolerant": 0.8, "blend": 0.8}
    assert doc["median_tokens"]["tolerant"] == 10 and doc["total_tokens"]["tolerant"] == 40
    assert doc["median_answer_s_per_token"]["cold"] == pytest.approx(0.78)
    assert doc["regressions"] == 0 and doc["strict_regressions"] == 0
    fact = summary["fact_answer"]
    assert fact["regressions"] == 1
    assert fact["regressions_by_arm"] == {"exact": 0, "tolerant": 1, "blend": 0}
    assert summary[OVERALL]["cases"] == 4 and summary[OVERALL]["regressions"] == 1
    assert summary[OVERALL]["identical_to_fresh"]["tolerant"] == 3


def test_json_document_has_the_documented_schema():
    results = [case_result(make_run(make_case(), STALE, GOOD, GOOD, GOOD, STALE))]
    doc = document(model={"name": "m.gguf"}, machine=machine_info(), settings={},
                   results=results, summary=summarize(results), wall_s=1.0)
    assert {"model", "machine", "cases", "summary"} <= set(doc)
    assert isinstance(doc["model"], str) and isinstance(doc["machine"], str)
    case = doc["cases"][0]
    assert {"id", "category", "arms", "regression", "strict_regression"} <= set(case)
    assert set(case["arms"]) == {"cold", "fresh", "exact", "tolerant", "blend"}
    for values in case["arms"].values():
        assert {"wall_s", "prompt_s", "answer_s", "tokens", "held_fraction", "passed",
                "similarity"} <= set(values)
    assert case["regression"] is True and case["strict_regression"] is True
    for category in ("doc_summary", OVERALL):
        s = doc["summary"][category]
        for key in ("median_speedup_vs_fresh", "median_speedup_vs_cold", "median_held_fraction"):
            assert {"exact", "tolerant", "blend"} <= set(s[key])
        assert isinstance(s["regressions"], int) and isinstance(s["strict_regressions"], int)


def test_per_token_speedup_compares_at_equal_work():
    # tolerant is 2x faster end to end only because it stopped at half the length
    r = case_result(timed_run(make_case(), (4.2, 4.2, 4.2, 2.2), tokens=(20, 20, 20, 10)))
    assert r.speedup("tolerant", "fresh") == pytest.approx(4.2 / 2.2)
    assert r.per_token_speedup("tolerant", "fresh") == pytest.approx(1.0)
    assert summarize([r])[OVERALL]["median_per_token_speedup_vs_fresh"]["tolerant"] == (
        pytest.approx(1.0))


# --- stability ------------------------------------------------------------------------------

def test_kept_apart_from_edit_allows_only_the_edited_words_to_change():
    before, after = "The bridge opens in spring.", "The brigde opens in spring."
    old = "The bridge opens in spring, the city said."
    assert kept_apart_from_edit(old, "The brigde opens in spring, the city said!", before, after)
    assert not kept_apart_from_edit(old, "The bridge opens in summer, the city said.", before,
                                    after)
    same = "Spacing  only."
    assert kept_apart_from_edit(old, old, same, same.replace("  ", " "))
    assert not kept_apart_from_edit(old, old + " Also.", same, same.replace("  ", " "))


def test_stability_summarizes_trivial_edits_of_the_tolerant_arm():
    cases = []
    for i, (edit, held, tolerant) in enumerate([
        ("typo", 1.0, "Opens April 3."), ("whitespace", 0.6, "Opens April 3, says Lind."),
        ("date-change", 0.1, "Opens April 3."),
    ]):
        case = make_case(id=f"c{i}")
        case = Case(**{**case.__dict__, "before": AFTER, "extra": {"edit": edit}})
        run = make_run(case, "Opens April 3.", "x", "Opens April 3.", "Opens April 3.", tolerant)
        run.runs["tolerant"] = [arm(tolerant, held=held)]
        cases.append(case_result(run))
    summary = summarize(cases)[OVERALL]["stability"]
    assert summary["cases"] == 2  # the date change is not a trivial edit
    assert summary["median_held_fraction"] == pytest.approx(0.8)
    assert summary["min_held_fraction"] == 0.6
    assert summary["unchanged_apart_from_edit"] == 1  # the whitespace edit added words
    assert summarize([cases[2]])[OVERALL]["stability"] is None
    assert summary["empty_answers"] == 0


def test_an_empty_answer_is_counted_apart_from_the_held_fractions():
    case = make_case(id="e")
    case = Case(**{**case.__dict__, "extra": {"edit": "whitespace"}})
    run = make_run(case, "Opens April 3.", "", "", "", "")
    run.runs["tolerant"] = [arm("", held=0.0, tokens=0)]
    summary = summarize([case_result(run)])[OVERALL]["stability"]
    assert summary["empty_answers"] == 1 and summary["min_held_fraction"] is None


def test_the_machine_line_says_whether_the_cpu_has_avx512():
    from redraft_cli.bench.export import machine_line

    base = {"cpu": "AMD EPYC", "cpus": 2, "system": "Linux 6", "arch": "x86_64"}
    assert "no AVX-512" in machine_line({**base, "simd": ["avx", "avx2", "fma"]})
    assert ", AVX-512," in machine_line({**base, "simd": ["avx2", "avx512f"]})
    assert "AVX" not in machine_line(base)  # a JSON written before the flags were recorded
    assert isinstance(machine_info()["simd"], list)


def test_the_slow_tail_is_the_tenth_of_the_cases_that_ran_slowest():
    speedups = {f"case-{i:02d}": 1.0 + i / 10 for i in range(20)}
    speedups.update({"loop": 0.55, "unmeasured": None})
    tail = slow_tail(speedups)
    assert tail is not None
    assert tail["min"] == 0.55 and tail["tenth"] == pytest.approx(1.1)  # 3rd slowest of 21
    assert [s["id"] for s in tail["slowest"]] == ["loop", "case-00", "case-01", "case-02",
                                                  "case-03"]
    assert slow_tail({"a": None}) is None
    assert slow_tail({"only": 0.8})["tenth"] == 0.8
