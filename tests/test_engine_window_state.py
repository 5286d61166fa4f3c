"""A saved state of a sliding-window model (Gemma 3) keeps the whole prompt, so an edit more
than a window before the end still reuses the restored prefix and blends the rest.

llama.cpp's per-sequence state of a sliding-window cache keeps only the cells the window still
sees; `KVSession.export_state` saves the whole context for such models instead. A state in the
per-sequence form (what entries written before this change hold) is the control: it still
loads, and the prefill past the window falls back.
"""

from __future__ import annotations

import ctypes

import pytest
from helpers.log_report import REPORT_TASK, service_log
from helpers.models import gemma_path
from redraft_engine import Engine
from redraft_engine.llama_backend import lib

pytestmark = [pytest.mark.model, pytest.mark.gemma, pytest.mark.slow]

DOC = service_log()
EDITED = DOC.replace("== Section 1: auth service", "== Section 1: auth and more service", 1)


@pytest.fixture(scope="module")
def engine():
    eng = Engine(gemma_path(), max_tokens=64, prompt_reuse="blend")
    assert eng.model.n_swa > 0
    yield eng
    eng.close()


def per_sequence_state(engine) -> bytes:
    buf, written = engine.session._state_buffer()
    return ctypes.string_at(buf, written)


def redraft_from_saved(engine, *, whole: bool):
    engine.reset()
    old = engine.generate(REPORT_TASK + DOC)
    tokens, data = engine.export_state()
    if not whole:
        data = per_sequence_state(engine)
    assert engine.import_state(tokens, data)
    first_kept = int(lib().llama_memory_seq_pos_min(engine.session.mem, 0))
    return old, engine.redraft(REPORT_TASK + EDITED, old), first_kept


def test_a_restored_state_keeps_the_prompt_before_the_window(engine):
    old, new, first_kept = redraft_from_saved(engine, whole=True)
    assert old.stats.prompt_tokens + len(old.tokens) > engine.model.n_swa + 256
    assert first_kept == 0
    assert new.stats.blend_fallback == ""
    assert new.stats.prompt_reused > 0
    assert new.stats.prompt_shifted > new.stats.prompt_tokens // 2


def test_control_a_per_sequence_state_loads_but_lacks_the_early_cells(engine):
    _, new, first_kept = redraft_from_saved(engine, whole=False)
    assert first_kept > 0
    assert new.stats.blend_fallback.startswith("the sliding-window cache lacks")
    assert new.stats.prompt_shifted == 0 and new.stats.prompt_reused == 0


def test_a_restored_state_answers_as_the_live_cache_did(engine):
    engine.reset()
    old = engine.generate(REPORT_TASK + DOC)
    assert old.tokens  # the state holds an answer after the prompt
    state = engine.export_state()
    live = engine.generate(REPORT_TASK + EDITED)
    engine.reset()
    assert engine.import_state(*state)
    restored = engine.generate(REPORT_TASK + EDITED)
    assert restored.stats.prompt_reused == live.stats.prompt_reused > 0
    assert restored.tokens == live.tokens
