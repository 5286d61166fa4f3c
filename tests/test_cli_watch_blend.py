"""`redraft watch` blends (its default, prompt_reuse auto) in a subprocess: a blended answer is
confirmed over an exact prefill when the watcher is idle, and a save during the confirmation
cancels it."""

from __future__ import annotations

import json
import struct

import pytest
from helpers.log_report import service_log
from helpers.watcher import Watcher

pytestmark = [pytest.mark.model, pytest.mark.slow]

START = "== Section 1: auth"


def edit_at_start(doc: str, word: str) -> str:
    return doc.replace(START, f"{START} {word}", 1)


@pytest.fixture
def watcher(tmp_path):
    started = []

    def make(*args):
        w = Watcher(tmp_path, *args)  # watch blends by default
        started.append(w)
        return w

    yield make
    for w in started:
        w.close()


def saved_approximate_ranges(project):
    """The approximate ranges recorded in the one persisted KV state of the project."""
    (state,) = (project / ".redraft" / "v2" / "states").glob("*.kv")
    raw = state.read_bytes()
    (n,) = struct.unpack_from("<I", raw, 6)
    return json.loads(raw[10 : 10 + n])["approximate"]


def test_control_watch_told_exact_does_not_blend(tmp_path):
    """The tests below run watch with its defaults and see it blend; told otherwise, it does
    not."""
    doc = tmp_path / "log.md"
    doc.write_text(service_log())
    w = Watcher(tmp_path, "log.md", "--max-events", "2", "--prompt-reuse", "exact")
    try:
        w.next_event("answer")
        doc.write_text(edit_at_start(service_log(), "(primary)"))
        edited = w.next_event("answer")
        assert edited["stats"]["prompt_shifted"] == 0
        assert w.proc.wait(timeout=60) == 0
    finally:
        w.close()


def test_a_blended_answer_is_confirmed_when_idle(tmp_path, watcher):
    doc = tmp_path / "log.md"
    doc.write_text(service_log())
    w = watcher("log.md", "--max-events", "3")
    assert w.next_event("answer")["mode"] == "fresh"
    doc.write_text(edit_at_start(service_log(), "(primary)"))
    blended = w.next_event("answer")
    assert blended["stats"]["prompt_shifted"] > 500 and blended["stats"]["blend_fallback"] == ""
    assert blended["save_to_first_token_s"] > 0
    confirmed = w.next_event("confirmed")
    assert confirmed["stats"]["prompt_shifted"] == 0 and confirmed["changed_tokens"] >= 0
    assert saved_approximate_ranges(tmp_path) == []  # the persisted state is the exact one
    # The next edit blends again from the exact state.
    doc.write_text(edit_at_start(service_log(), "(secondary)"))
    again = w.next_event("answer")
    assert again["stats"]["prompt_shifted"] > 500 and again["stats"]["blend_fallback"] == ""
    assert w.proc.wait(timeout=60) == 0


def test_a_save_during_the_confirmation_cancels_it(tmp_path, watcher):
    doc = tmp_path / "log.md"
    doc.write_text(service_log())
    w = watcher("log.md", "--max-events", "3")
    w.next_event("answer")
    doc.write_text(edit_at_start(service_log(), "(primary)"))
    blended = w.next_event("answer")
    assert blended["stats"]["prompt_shifted"] > 500
    doc.write_text(edit_at_start(service_log(), "(secondary)"))  # during the confirmation
    w.next_event("confirmation_cancelled")
    after = w.next_event("answer")
    # It starts from the blended cache, knows that cache is approximate and does not build on it.
    assert after["mode"] == "redraft"
    assert after["stats"]["blend_fallback"] == "drift budget reached"
    assert after["stats"]["prompt_shifted"] == 0 and after["stats"]["prompt_reused"] > 0
    assert w.proc.wait(timeout=60) == 0
    assert saved_approximate_ranges(tmp_path) == []
