"""The pure plan of a blended prefill: what is kept, shifted, decoded, and never kept twice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redraft_engine.blend_plan import approximate_share, plan_blend

DOC = list(range(100, 400))  # 300 distinct tokens
PLAN = {"bridge": 4, "tail": 10, "min_keep": 8}


def rebuilt(plan, cached, new):
    """The new prompt as the plan assembles it: exact prefix, kept cells, decoded tokens."""
    out = list(cached[: plan.prefix])
    pieces = [(k.new_start, cached[k.old_start : k.old_start + k.length]) for k in plan.keep]
    pieces += [(start, new[start:end]) for start, end in plan.decode]
    for start, tokens in sorted(pieces):
        assert start == len(out)
        out.extend(tokens)
    return out


def test_an_edit_at_the_start_keeps_the_rest_shifted():
    new = [1, 2, 3] + DOC[1:]  # one token replaced by three
    plan = plan_blend(DOC, new, **PLAN)
    assert plan.prefix == 0
    (keep,) = plan.keep
    assert keep.shift == 2 and keep.new_start == 3 + 4  # after the hunk and its bridge
    assert keep.new_end == len(new) - 10  # the tail is decoded
    assert plan.decode == ((0, 7), (len(new) - 10, len(new)))
    assert plan.recomputed == 17 and plan.shifted == len(new) - 17
    assert rebuilt(plan, DOC, new) == new


def test_an_unchanged_prompt_or_an_edit_in_the_tail_is_exact_prefix_reuse():
    same = plan_blend(DOC, DOC, **PLAN)
    assert same.keep == () and same.decode == ((299, 300),) and same.prefix == 299
    late = DOC[:295] + [7] + DOC[296:]
    plan = plan_blend(DOC, late, **PLAN)
    assert plan.keep == () and plan.prefix == 295


def test_a_rename_in_three_places_keeps_the_runs_between():
    new = list(DOC)
    for i in (50, 150, 250):
        new[i] = 9
    plan = plan_blend(DOC, new, **PLAN)
    assert plan.prefix == 50
    assert [(k.new_start, k.length, k.shift) for k in plan.keep] == [
        (55, 95, 0), (155, 95, 0), (255, 35, 0)]
    assert rebuilt(plan, DOC, new) == new


def test_short_matches_are_decoded_not_kept():
    new = [1] + DOC[:10] + [2] + DOC[200:]
    plan = plan_blend(DOC, new, **PLAN)
    assert all(k.length >= 8 for k in plan.keep)
    assert all(k.old_start >= 200 for k in plan.keep)  # DOC[:10] leaves 6 after its bridge
    assert rebuilt(plan, DOC, new) == new


def test_approximate_ranges_are_never_kept_again():
    new = [1] + DOC[1:]
    first = plan_blend(DOC, new, **PLAN)
    again = [1] + DOC[1:200] + [5] + DOC[201:]
    second = plan_blend(new, again, approximate=first.approximate, **PLAN)
    assert second.keep == ()  # everything after the first edit was approximate
    assert second.prefix == 5 and rebuilt(second, new, again) == again  # 1..4 were decoded


def test_the_arguments_are_checked():
    with pytest.raises(ValueError):
        plan_blend(DOC, DOC, bridge=0, tail=0, min_keep=8)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=80),
    st.lists(st.tuples(st.integers(0, 79), st.integers(0, 3), st.lists(st.integers(0, 30),
                                                                         max_size=4)),
             max_size=4),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 20)), max_size=3),
    st.integers(0, 6), st.integers(1, 12), st.integers(1, 10),
)
def test_every_plan_rebuilds_the_new_prompt(cached, edits, approx, bridge, tail, min_keep):
    new = list(cached)
    for at, cut, insert in edits:
        at = min(at, len(new))
        new[at : at + cut] = insert
    if not new:
        new = [0]
    approximate = [(s, s + n) for s, n in approx]
    plan = plan_blend(cached, new, approximate=approximate, bridge=bridge, tail=tail,
                      min_keep=min_keep)
    assert rebuilt(plan, cached, new) == new
    assert plan.recomputed + plan.shifted + plan.prefix == len(new)
    assert plan.decode and plan.decode[-1][1] == len(new)  # the last token is decoded
    for k in plan.keep:
        assert k.length >= min_keep and k.new_end <= len(new) - tail
        assert all(not (s <= i < e) for s, e in approximate
                   for i in range(k.old_start, k.old_start + k.length))
    assert all(not (s <= i < e) for s, e in approximate for i in range(plan.prefix))
    olds = [k.old_start for k in plan.keep]
    assert olds == sorted(olds)  # kept runs keep their order: moves never cross


def test_the_approximate_share_counts_covered_positions():
    assert approximate_share([(0, 25), (50, 75)], 100) == 0.5
    assert approximate_share([], 0) == 0.0
