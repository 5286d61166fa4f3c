"""The output transaction, cut at every step (in process, no model): an output is always the
old or the complete new text, and never reported as a hand edit afterwards."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from redraft_cli import faults, outputs
from redraft_cli.cache import Cache
from redraft_cli.errors import HandEditError

OUTPUT_POINTS = [p for p in faults.CRASH_POINTS if p.split(":")[0] in
                 ("record-pending", "output", "record")]


class Killed(BaseException):
    """Stands for the process dying at a crash point."""


@pytest.fixture
def cache(tmp_path):
    return Cache(tmp_path / ".redraft", max_size=1 << 30, warn=lambda _m: None)


def crash_at(monkeypatch, point):
    def maybe_die(name):
        if name == point:
            raise Killed(point)

    monkeypatch.setattr("redraft_cli.atomic.crash_point", maybe_die)


def test_every_output_write_point_is_listed():
    assert len(OUTPUT_POINTS) == 9


@pytest.mark.parametrize("point", OUTPUT_POINTS)
def test_a_write_cut_at_any_point_leaves_old_or_new_and_stays_redrafts_own(
    cache, tmp_path, monkeypatch, point
):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    crash_at(monkeypatch, point)
    with pytest.raises(Killed):
        outputs.write_output(cache, out, "new answer\n", force=False)
    monkeypatch.undo()
    assert out.read_text() in ("old answer\n", "new answer\n")
    outputs.guard_hand_edit(cache, out, force=False)  # no false hand-edit report
    outputs.write_output(cache, out, "newer answer\n", force=False)  # and no --force needed
    assert out.read_text() == "newer answer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".redraft", "doc.sum.md"]


def test_control_without_the_pending_record_a_crash_after_the_rename_looks_like_a_hand_edit(
    cache, tmp_path, monkeypatch
):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    real_save = outputs._save_record

    def no_pending(cache, output, record, label):
        if label != "record-pending":
            real_save(cache, output, record, label)

    monkeypatch.setattr(outputs, "_save_record", no_pending)
    crash_at(monkeypatch, "output:renamed")
    with pytest.raises(Killed):
        outputs.write_output(cache, out, "new answer\n", force=False)
    with pytest.raises(HandEditError, match="was edited"):
        outputs.guard_hand_edit(cache, out, force=False)


def test_a_hand_edit_is_refused_and_force_overwrites_it(cache, tmp_path):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    out.write_text("old answer\nMY HAND EDIT\n")
    with pytest.raises(HandEditError, match="was edited"):
        outputs.write_output(cache, out, "new answer\n", force=False)
    assert "MY HAND EDIT" in out.read_text()
    outputs.write_output(cache, out, "new answer\n", force=True)
    assert out.read_text() == "new answer\n"


def test_a_file_redraft_never_wrote_is_refused_unless_it_holds_the_answer(cache, tmp_path):
    out = tmp_path / "doc.sum.md"
    out.write_text("someone else's file\n")
    with pytest.raises(HandEditError, match="has no record of writing it"):
        outputs.write_output(cache, out, "answer\n", force=False)
    out.write_text("answer\n")  # e.g. the record was lost: the content proves it is redraft's
    outputs.write_output(cache, out, "answer\n", force=False, adopt="answer\n")


def test_a_symlinked_output_is_written_through_the_link(cache, tmp_path):
    target = tmp_path / "real.md"
    link = tmp_path / "doc.sum.md"
    link.symlink_to(target)
    outputs.write_output(cache, link, "answer\n", force=False)
    assert link.is_symlink() and target.read_text() == "answer\n"
    outputs.write_output(cache, link, "second\n", force=False)
    assert target.read_text() == "second\n"


def test_temporaries_of_an_interrupted_write_are_swept_by_the_next(cache, tmp_path):
    out = tmp_path / "doc.sum.md"
    stale = tmp_path / ".doc.sum.md.abcd1234.tmp"
    stale.write_text("half")
    unrelated = tmp_path / ".other.md.abcd1234.tmp"
    unrelated.write_text("not ours")
    outputs.write_output(cache, out, "answer\n", force=False)
    assert not stale.exists() and unrelated.exists()


def test_two_interrupted_writes_in_a_row_still_leave_an_output_of_our_own(
    cache, tmp_path, monkeypatch
):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "first\n", force=False)
    crash_at(monkeypatch, "output:renamed")  # the file changed, its record was not committed
    with pytest.raises(Killed):
        outputs.write_output(cache, out, "second\n", force=False)
    crash_at(monkeypatch, "record-pending:renamed")  # the next write dies before its rename
    with pytest.raises(Killed):
        outputs.write_output(cache, out, "third\n", force=False)
    monkeypatch.undo()
    assert out.read_text() == "second\n"
    outputs.guard_hand_edit(cache, out, force=False)  # still recognised as redraft's own


def test_a_moved_project_keeps_its_records(tmp_path):
    first = tmp_path / "a"
    first.mkdir()
    cache = Cache(first / ".redraft", max_size=1 << 30, warn=lambda _m: None)
    outputs.write_output(cache, first / "doc.sum.md", "answer\n", force=False)
    (first / "doc.sum.md").write_text("answer\nMY EDIT\n")
    moved = tmp_path / "b"
    first.rename(moved)
    cache = Cache(moved / ".redraft", max_size=1 << 30, warn=lambda _m: None)
    with pytest.raises(HandEditError, match="was edited"):  # the record is found again
        outputs.guard_hand_edit(cache, moved / "doc.sum.md", force=False)


def save_during_write(monkeypatch, save, point="output:tmp-synced"):
    """Run `save()` (a hand edit) when the output's write reaches `point`: after the hand-edit
    check, before the new file is put in place."""
    def maybe_save(name):
        if name == point:
            save()

    monkeypatch.setattr("redraft_cli.atomic.crash_point", maybe_save)


def save_in_place(path, text):
    return lambda: path.write_text(text)


def save_by_rename(path, text):  # as editors do: a new file renamed over the old one
    def save():
        new = path.with_name("editor-swap")
        new.write_text(text)
        new.replace(path)
    return save


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in (".redraft", "doc.sum.md"))


@pytest.mark.parametrize("save", [save_in_place, save_by_rename])
def test_a_hand_edit_saved_between_the_check_and_the_swap_is_kept(
    cache, tmp_path, monkeypatch, save
):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    save_during_write(monkeypatch, save(out, "old answer\nMY HAND EDIT\n"))
    with pytest.raises(HandEditError, match="was edited while redraft was writing it"):
        outputs.write_output(cache, out, "new answer\n", force=False)
    assert out.read_text() == "old answer\nMY HAND EDIT\n"
    assert leftovers(tmp_path) == []
    with pytest.raises(HandEditError, match="was edited since redraft last wrote it"):
        outputs.guard_hand_edit(cache, out, force=False)  # and the next run refuses it too


@pytest.mark.parametrize("save", [save_in_place, save_by_rename])
def test_control_without_renameat2_that_hand_edit_is_lost(cache, tmp_path, monkeypatch, save):
    monkeypatch.setenv("REDRAFT_NO_RENAME_EXCHANGE", "1")
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    save_during_write(monkeypatch, save(out, "old answer\nMY HAND EDIT\n"))
    outputs.write_output(cache, out, "new answer\n", force=False)
    assert out.read_text() == "new answer\n"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "control-without"])
def test_a_file_created_between_the_check_and_the_rename_is_kept(
    cache, tmp_path, monkeypatch, exchange
):
    if not exchange:
        monkeypatch.setenv("REDRAFT_NO_RENAME_EXCHANGE", "1")
    out = tmp_path / "doc.sum.md"
    save_during_write(monkeypatch, save_in_place(out, "MY NEW FILE\n"))
    if exchange:
        with pytest.raises(HandEditError, match="was created while redraft was writing it"):
            outputs.write_output(cache, out, "answer\n", force=False)
        assert out.read_text() == "MY NEW FILE\n"
    else:
        outputs.write_output(cache, out, "answer\n", force=False)
        assert out.read_text() == "answer\n"
    assert leftovers(tmp_path) == []


def test_an_output_deleted_between_the_check_and_the_swap_is_written_afresh(
    cache, tmp_path, monkeypatch
):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    save_during_write(monkeypatch, out.unlink)
    outputs.write_output(cache, out, "new answer\n", force=False)
    assert out.read_text() == "new answer\n" and leftovers(tmp_path) == []


def test_a_second_edit_saved_while_the_first_is_swapped_back_is_kept_too(
    cache, tmp_path, monkeypatch
):
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    save_during_write(monkeypatch, save_in_place(out, "old answer\nEDIT 1\n"))
    real_exchange = outputs.rename_exchange
    calls = []

    def exchange_with_a_save_before_the_second(a, b):
        calls.append(a)
        if len(calls) == 2:
            save_by_rename(out, "old answer\nEDIT 2\n")()
        return real_exchange(a, b)

    monkeypatch.setattr(outputs, "rename_exchange", exchange_with_a_save_before_the_second)
    with pytest.raises(HandEditError, match="saved as .*doc.sum.md.edited"):
        outputs.write_output(cache, out, "new answer\n", force=False)
    assert len(calls) == 2
    assert out.read_text() == "old answer\nEDIT 1\n"
    assert (tmp_path / "doc.sum.md.edited").read_text() == "old answer\nEDIT 2\n"
    assert leftovers(tmp_path) == ["doc.sum.md.edited"]


@pytest.mark.parametrize("deferred", [True, False], ids=["deferred", "control-raw"])
def test_ctrl_c_right_after_the_swap_never_loses_the_edit_it_swapped_out(
        cache, tmp_path, monkeypatch, deferred):
    """A hand edit saved before the swap, and a real SIGINT as the swap returns: the swap is
    settled first (the edit put back), then the interrupt is raised. Control: with Python's
    own SIGINT handling the interrupt comes between the swap and its check, and the writer's
    clean-up deletes the swapped-out edit."""
    out = tmp_path / "doc.sum.md"
    outputs.write_output(cache, out, "old answer\n", force=False)
    real_exchange = outputs.rename_exchange

    calls = []

    def edited_then_interrupted(a, b):
        calls.append(a)
        if len(calls) > 1:  # the swap back
            return real_exchange(a, b)
        out.write_text("old answer\nEDIT\n")
        swapped = real_exchange(a, b)
        os.kill(os.getpid(), signal.SIGINT)
        return swapped

    monkeypatch.setattr(outputs, "rename_exchange", edited_then_interrupted)
    if not deferred:
        monkeypatch.setattr(outputs, "deferred_interrupts", contextlib.nullcontext)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_output(cache, out, "new answer\n", force=False)
    monkeypatch.undo()
    assert ("EDIT" in out.read_text()) == deferred
    assert leftovers(tmp_path) == []
