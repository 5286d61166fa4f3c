"""`redraft watch` in a subprocess: edits (in place and by rename) produce redraft events."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.cli_env import without_redraft_vars
from helpers.watcher import EVENT_TIMEOUT_S, Watcher

pytestmark = [pytest.mark.model, pytest.mark.slow]

DOC = (
    "Project status. The team shipped the login page on Monday. Anna fixed two bugs in the "
    "payment form. The next review meeting is on Thursday at 10am in room 12.\n"
)
@pytest.fixture
def watcher_factory(tmp_path):
    started = []

    def make(*args):
        w = Watcher(tmp_path, *args)
        started.append(w)
        return w

    yield make
    for w in started:
        w.close()


def test_edits_in_place_and_by_rename_are_redrafted(tmp_path, watcher_factory):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    w = watcher_factory("doc.md", "--out", "answer.md", "--max-events", "3")

    started = w.next_event("started")
    assert started["files"] == ["doc.md"] and started["task"] == "summarize"
    assert started["engine"] == {"backend": "CPU", "gpu_layers": 0, "n_layers": 31,
                                 "flash_attn": "auto"}
    first = w.next_event("answer")
    assert first["mode"] == "fresh" and first["text"].strip()

    doc.write_text(DOC.replace("room 12", "room 14"))
    second = w.next_event("answer")
    assert second["mode"] == "redraft"
    assert second["stats"]["prompt_reused"] > 0
    assert second["stats"]["held"] > 0  # a one-word edit keeps part of the old answer

    # Editors write a temporary file and rename it over the original.
    tmp = tmp_path / ".doc.md.swp-new"
    tmp.write_text(DOC.replace("room 12", "room 14").replace("Monday", "Tuesday"))
    os.replace(tmp, doc)
    third = w.next_event("answer")
    assert third["mode"] == "redraft"

    assert w.proc.wait(timeout=60) == 0
    assert (tmp_path / "answer.md").read_text() == third["text"].strip() + "\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_first_answer_comes_from_the_cache_when_unchanged(tmp_path, watcher_factory):
    (tmp_path / "doc.md").write_text(DOC)
    w = watcher_factory("doc.md", "--max-events", "1")
    assert w.next_event("answer")["mode"] == "fresh"
    assert w.proc.wait(timeout=60) == 0
    w = watcher_factory("doc.md", "--max-events", "1")
    cached = w.next_event("answer")
    assert cached["mode"] == "cached"
    assert w.proc.wait(timeout=60) == 0


def test_ctrl_c_exits_130_without_partial_files(tmp_path, watcher_factory):
    (tmp_path / "doc.md").write_text(DOC)
    w = watcher_factory("doc.md", "--out", "answer.md")
    w.next_event("answer")
    w.proc.send_signal(signal.SIGINT)
    assert w.proc.wait(timeout=60) == 130
    assert "interrupted" in w.proc.stderr.read()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".redraft", "answer.md", "doc.md"]


# About 400 prompt tokens: an edit at its first word makes an exact-reuse redraft re-read all
# of it before the first answer token, and the watcher looks for a newer save between tokens.
# That re-read is the window in which the test saves again: about 5 s on one thread here, over
# 2 s on a machine twice as fast, where a short answer alone was over before the second save.
LONG_DOC = "".join(
    f"Line {i}: crate {i * 7} of the {('red', 'blue', 'green')[i % 3]} batch leaves dock "
    f"{i % 9} on day {i % 28} with {i * 3} boxes.\n"
    for i in range(12)
)


def test_a_save_during_generation_cancels_it_and_the_newest_save_wins(tmp_path, watcher_factory):
    doc = tmp_path / "doc.md"
    doc.write_text(LONG_DOC)
    w = watcher_factory("doc.md", "--out", "answer.md", "--rule", "exact",
                        "--prompt-reuse", "exact")
    assert w.next_event("answer")["mode"] == "fresh"

    doc.write_text("Shipping plan. " + LONG_DOC)  # an edit at the start: a long re-read
    time.sleep(0.3)  # that redraft is under way (the debounce is 50 ms)
    newest = LONG_DOC.replace("day 11", "day 10")
    doc.write_text(newest)
    w.next_event("cancelled")
    final = w.next_event("answer")
    assert final["mode"] == "redraft"

    (entry,) = (tmp_path / ".redraft" / "v2" / "entries").glob("*.json")
    stored = json.loads(entry.read_text())
    assert stored["source_sha256"] == hashlib.sha256(newest.encode()).hexdigest()
    assert stored["answer"] == final["text"]
    assert (tmp_path / "answer.md").read_text() == final["text"].strip() + "\n"


@pytest.mark.parametrize("force", [False, True], ids=["protected", "control-force"])
def test_a_hand_edited_output_is_not_overwritten(tmp_path, watcher_factory, force):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    out = tmp_path / "answer.md"
    w = watcher_factory("doc.md", "--out", "answer.md", *(["--force"] if force else []))
    first = w.next_event("answer")
    out.write_text(first["text"].strip() + "\nMY HAND EDIT\n")
    doc.write_text(DOC.replace("room 12", "room 14"))
    if force:
        second = w.next_event("answer")
        assert out.read_text() == second["text"].strip() + "\n"
        return
    error = w.next_event("error")
    assert "was edited since redraft last wrote it" in error["message"]
    assert w.next_event("answer")["mode"] == "redraft"  # the answer is still shown
    assert "MY HAND EDIT" in out.read_text()


def test_a_burst_of_saves_settles_on_the_last_content(tmp_path, watcher_factory):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    w = watcher_factory("doc.md", "--out", "answer.md")
    w.next_event("answer")
    last = DOC
    for i in range(100):  # 100 saves in about 5 s
        last = DOC.replace("room 12", f"room {i + 13}")
        doc.write_text(last)
        time.sleep(0.05)
    wanted = hashlib.sha256(last.encode()).hexdigest()
    entries = tmp_path / ".redraft" / "v2" / "entries"
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        event = w.next_event("answer")
        (entry,) = entries.glob("*.json")
        stored = json.loads(entry.read_text())
        if stored["source_sha256"] == wanted:
            break
    else:
        pytest.fail("watch never answered the last save")
    assert (tmp_path / "answer.md").read_text() == event["text"].strip() + "\n"
    assert stored["answer"] == event["text"]


def test_a_run_while_watch_holds_the_target_waits_and_agrees(tmp_path, watcher_factory):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    (tmp_path / "redraft.toml").write_text(
        '[[targets]]\nsource = "doc.md"\ntask = "summarize"\noutput = "doc.sum.md"\n')
    w = watcher_factory("doc.md")
    w.next_event("answer")
    doc.write_text(DOC.replace("Monday", "Tuesday"))
    time.sleep(0.3)  # the watcher is redrafting, and takes the target's lock to record it
    env = without_redraft_vars({"REDRAFT_MAX_TOKENS": "24"})
    run = subprocess.run([sys.executable, "-m", "redraft_cli", "run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr  # the output did not exist yet: written
    w.next_event("answer")
    for last in (False, True):  # the watcher may have recorded its own answer since
        again = subprocess.run([sys.executable, "-m", "redraft_cli", "run"], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert not last or ": unchanged" in again.stderr, again.stderr
    (entry,) = (tmp_path / ".redraft" / "v2" / "entries").glob("*.json")
    stored = json.loads(entry.read_text())["answer"]
    assert (tmp_path / "doc.sum.md").read_text() == stored.strip() + "\n"
