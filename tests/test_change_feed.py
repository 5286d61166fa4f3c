"""The change feed behind `watch`: `debounce_ms` is the quiet time a save waits for."""

from __future__ import annotations

import queue
import time

from redraft_cli.changes import ChangeFeed


def changes_within(feed: ChangeFeed, seconds: float) -> list:
    seen, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(feed.changes.get(timeout=left))
        except queue.Empty:
            break
    return seen


def two_writes_apart(tmp_path, quiet_ms: int, gap_s: float) -> list:
    doc = tmp_path / "doc.md"
    doc.write_text("first\n")
    feed = ChangeFeed([doc], quiet_ms=quiet_ms)
    feed.start()
    try:
        doc.write_text("half written")  # an editor that writes a file in two steps
        time.sleep(gap_s)
        doc.write_text("second\n")
        return changes_within(feed, 3.0)
    finally:
        feed.stop()


def test_a_write_inside_the_quiet_time_is_answered_once(tmp_path):
    assert len(two_writes_apart(tmp_path, quiet_ms=800, gap_s=0.2)) == 1


def test_control_writes_further_apart_than_the_quiet_time_are_two_changes(tmp_path):
    assert len(two_writes_apart(tmp_path, quiet_ms=50, gap_s=0.6)) == 2
