"""The output transaction, cut at every step (in process, no model): an output is always the
old or the complete new text, and never reported as a hand edit afterwards."""

from __future__ import annotations

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
    with pytest.raises(HandEditError, match="did not write it"):
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
