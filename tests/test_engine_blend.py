"""Blended prefill on the real engine: kept KV moved to the right positions, exact reuse where
nothing is kept, fallbacks, and no compounding of the approximation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers.log_report import REPORT_TASK, service_log
from helpers.models import MODEL_PARAMS, MODEL_PATHS
from redraft_engine import Engine
from redraft_engine.blend_plan import plan_blend
from redraft_engine.kv_blend import apply_plan, logits_at
from redraft_engine.llama_backend import lib

pytestmark = pytest.mark.model

SETTINGS = {"bridge": 4, "tail": 32, "min_keep": 16}
# Logit change at kept positions inside their runs, between a blended cache and an exact prefill
# of the same prompt (each probed by decoding the next prompt token over the cells before it,
# one probe every 48 kept tokens); the test takes the median over probes and, per probe, the
# largest change over the vocabulary. Measured (2026-12-01): blended 0.68-0.84 on SmolLM2 and
# 1.04-1.17 on Gemma 3; the same runs kept one cell off (each cell holding its neighbour's KV,
# the control) 7.9-12.6. Single probes are not bounded: on Gemma 3, after the three-place
# rename, the probe that predicts the next section number ("== Section |3") moved by 12.2
# logits (6.7 within its top 20, argmax unchanged), since it attends to the kept cells just
# past a renamed header; that is the approximation blend makes, which the bench judges.
MAX_MEDIAN_DRIFT = 3.0


@pytest.fixture(scope="module", params=MODEL_PARAMS)
def engine(request):
    eng = Engine(MODEL_PATHS[request.param](), max_tokens=16)
    yield eng
    eng.close()


def prompt_of(engine, doc):
    return engine.prompt_tokens(REPORT_TASK + doc)


_exact_states: dict[tuple[str, tuple[int, ...]], tuple[list[int], bytes]] = {}


def cached(engine, tokens):
    """A cache holding `tokens` exactly: prefilled in this process the first time, restored
    from that prefill's whole-context state after (the same cells, bit for bit, without
    decoding the prompt again)."""
    key = (engine.fingerprint, tuple(tokens))
    state = _exact_states.get(key)
    if state is not None and engine.import_state(*state):
        assert engine.session.tokens == list(tokens)
        return
    engine.reset()
    engine.session.prefill(tokens)
    _exact_states[key] = engine.export_state()


def probes_of(plan):
    """Kept positions away from the edges of their runs, 48 apart (at least one per run)."""
    out = []
    for k in plan.keep:
        out += range(k.new_start + min(16, k.length // 2), k.new_end - 1, 48) or [k.new_start]
    return out


def probe(engine, new, probes):
    """What the cache holds at each probe position: the logits after the next prompt token."""
    return [logits_at(engine.session, p + 1, new[p + 1], 0) for p in probes]


def drift(rows, reference):
    """Median over probes of the largest logit change of each."""
    return float(np.median([np.abs(r - q).max() for r, q in zip(rows, reference, strict=True)]))


def positions(engine):
    mem = engine.session.mem
    return lib().llama_memory_seq_pos_min(mem, 0), lib().llama_memory_seq_pos_max(mem, 0)


def edited(doc, where):
    marker = {"start": "== Section 1: auth", "middle": "== Section 4: upload",
              "end": "== Section 6: gateway"}
    if where in marker:
        assert marker[where] in doc
        return doc.replace(marker[where], marker[where] + " and more", 1)
    return doc.replace("billing", "payments")  # a rename in three places and more


@pytest.mark.parametrize("where", ["start", "end", "rename"])
def test_a_blend_holds_the_new_prompt_at_the_right_positions(engine, where):
    doc = service_log()
    old, new = prompt_of(engine, doc), prompt_of(engine, edited(doc, where))
    plan = plan_blend(old, new, **SETTINGS)
    assert plan.keep and (where == "end" or plan.shifted > len(new) // 3)
    probes = probes_of(plan)
    engine.reset()
    engine.session.prefill(new)
    reference = probe(engine, new, probes)
    cached(engine, old)
    row, reused, shifted, fallback = engine.session.prefill_blend(new, budget=1.0, **SETTINGS)
    assert fallback is None and shifted == plan.shifted and reused == plan.prefix
    assert engine.session.tokens == new
    assert positions(engine) == (0, len(new) - 1)
    assert drift(probe(engine, new, probes), reference) <= MAX_MEDIAN_DRIFT
    # Control: the same runs kept one cell off (each cell holds its neighbour's KV).
    cached(engine, old)
    off = replace(plan, keep=tuple(replace(k, old_start=k.old_start + 1) for k in plan.keep))
    apply_plan(engine.session, new, off, 0)
    assert drift(probe(engine, new, probes), reference) > 2 * MAX_MEDIAN_DRIFT


def test_an_unchanged_prompt_leaves_the_state_as_it_was(engine):
    prompt = prompt_of(engine, service_log())
    cached(engine, prompt)
    row_exact, _ = engine.session.prefill(prompt)
    row, reused, shifted, fallback = engine.session.prefill_blend(prompt, budget=1.0, **SETTINGS)
    assert (reused, shifted, fallback) == (len(prompt) - 1, 0, None)
    assert engine.session.tokens == prompt and engine.approximate_ranges == ()
    assert np.array_equal(row, row_exact)


def test_an_edit_in_the_tail_gives_the_logits_of_exact_prefix_reuse(engine):
    doc = service_log()
    old = prompt_of(engine, doc)
    new = prompt_of(engine, doc[:-40] + doc[-40:].replace("percent", "per cent"))
    assert plan_blend(old, new, **SETTINGS).keep == ()
    cached(engine, old)
    row_exact, _ = engine.session.prefill(new)
    cached(engine, old)
    row, _, shifted, _ = engine.session.prefill_blend(new, budget=1.0, **SETTINGS)
    assert shifted == 0 and np.array_equal(row, row_exact)


def test_blend_falls_back_to_exact_where_the_memory_cannot_shift(engine, monkeypatch):
    doc = service_log()
    old, new = prompt_of(engine, doc), prompt_of(engine, edited(doc, "start"))
    cached(engine, old)
    row_exact, _ = engine.session.prefill(new)
    monkeypatch.setattr(lib(), "llama_memory_can_shift", lambda mem: False)
    cached(engine, old)
    row, _, shifted, fallback = engine.session.prefill_blend(new, budget=1.0, **SETTINGS)
    assert fallback == "the memory cannot shift positions" and shifted == 0
    assert np.array_equal(row, row_exact) and engine.approximate_ranges == ()


def test_repeated_blends_never_keep_approximate_ranges_again(engine):
    doc = service_log()
    first, second = edited(doc, "start"), edited(edited(doc, "start"), "middle")
    engine.prompt_reuse = "blend"
    try:
        engine.reset()
        engine.generate(REPORT_TASK + doc)
        one = engine.generate(REPORT_TASK + first)
        assert one.stats.prompt_shifted > 0.5 * one.stats.prompt_tokens
        approximate = engine.approximate_ranges
        assert approximate
        # Over the drift budget (a quarter of the cache): an exact prefill, nothing approximate.
        two = engine.generate(REPORT_TASK + second)
        assert two.stats.blend_fallback == "drift budget reached"
        assert two.stats.prompt_shifted == 0 and engine.approximate_ranges == ()
        three = engine.generate(REPORT_TASK + first)
        if engine.model.n_swa and three.stats.blend_fallback:
            # A sliding-window cache drops early cells as its answers grow past the window.
            assert three.stats.blend_fallback.startswith("the sliding-window cache lacks")
        else:
            assert three.stats.prompt_shifted > 0 and not three.stats.blend_fallback
    finally:
        engine.prompt_reuse = "exact"


def test_exact_reuse_stops_at_the_first_approximate_token(engine):
    doc = service_log()
    engine.prompt_reuse = "blend"
    try:
        engine.reset()
        engine.generate(REPORT_TASK + doc)
        engine.generate(REPORT_TASK + edited(doc, "start"))
        start = min(s for s, _ in engine.approximate_ranges)
    finally:
        engine.prompt_reuse = "exact"
    again = engine.generate(REPORT_TASK + edited(doc, "start"))
    assert again.stats.prompt_reused <= start
    assert engine.approximate_ranges == ()


@pytest.mark.parametrize("stop_at", [1, 2], ids=["edited-span", "tail"])
def test_a_blend_stopped_midway_leaves_a_cache_the_next_prefill_can_use(engine, stop_at):
    """A newer save stops the blend while it decodes an edited span (or the prompt's tail):
    the cache must then hold exactly the tokens it lists, kept runs included, so the next
    prefill (another save, edited at the same place) decodes where the cache ends."""
    from redraft_engine import Stopped

    doc = service_log()
    old, new = prompt_of(engine, doc), prompt_of(engine, edited(doc, "middle"))
    later = prompt_of(engine, edited(doc, "middle").replace("and more", "and more again", 1))
    asked = []

    def stop() -> bool:  # asked in each decode of the plan: stop at the `stop_at`-th one
        asked.append(engine.session.n_tokens)
        return len(set(asked)) >= stop_at

    cached(engine, old)
    with pytest.raises(Stopped), engine.session.stoppable(stop):
        engine.session.prefill_blend(new, budget=1.0, **SETTINGS)
    assert positions(engine)[1] == len(engine.session.tokens) - 1
    assert engine.session.tokens == new[: len(engine.session.tokens)]
    assert all(end <= len(engine.session.tokens) for _, end in engine.approximate_ranges)
    engine.session.prefill(later)
    assert engine.session.tokens == later and positions(engine) == (0, len(later) - 1)
