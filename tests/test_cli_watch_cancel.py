"""`redraft watch` drops a stream that a newer save supersedes: between events (a fake stream,
no model), and while the prompt is decoded (a real watcher)."""

import time

import pytest


class FakeStream:
    """Stands in for the engine's Stream: yields events, then sets `result`."""

    def __init__(self, n):
        self.n = n
        self.result = None
        self.closed = False
        self.yielded = 0

    def __iter__(self):
        for i in range(self.n):
            self.yielded += 1
            yield i
        self.result = "answer"

    def close(self):
        self.closed = True


def test_a_newer_save_cancels_the_stream_between_events():
    from redraft_cli.watch_stream import Cancelled, consume_unless

    stream = FakeStream(10)
    seen = []
    with pytest.raises(Cancelled):
        consume_unless(stream, superseded=lambda: len(seen) >= 3, on_event=seen.append)
    assert seen == [0, 1, 2] and stream.yielded == 4 and stream.closed
    assert stream.result is None

    complete = FakeStream(5)
    assert consume_unless(complete, superseded=lambda: False) == "answer"
    assert complete.closed


# --- a real watcher: a save during a long prefill cancels it at once ------------------------

LONG_DOC = "\n\n".join(
    f"Section {i}. The {place} depot logged {i * 37 % 90 + 10} late deliveries in week {i}; "
    f"the {role} on duty, {name}, moved the {item} shipments to the {slot} slot and asked the "
    f"carrier for a revised timetable before the audit on day {i * 3 % 28 + 1}."
    for i, (place, role, name, item, slot) in enumerate(
        [("north", "dispatcher", "Ana Ruiz", "frozen", "early"),
         ("harbour", "supervisor", "Tom Okafor", "pharmacy", "late"),
         ("airport", "planner", "Li Wei", "textile", "night"),
         ("rail", "clerk", "Sara Berg", "grain", "morning"),
         ("river", "foreman", "Omar Haddad", "paper", "evening"),
         ("valley", "agent", "Mia Novak", "steel", "noon")] * 2, start=1))


def _time_to_cancel(project, patches: str) -> float:
    """Seconds from a save made while the previous save's prompt is being decoded to the
    watcher's `cancelled` event (exact prompt reuse and an edit at the very start, so each
    save decodes the whole prompt again)."""
    from helpers.watcher import Watcher

    project.mkdir()
    doc = project / "doc.md"
    doc.write_text(LONG_DOC)
    watcher = Watcher(project, "doc.md", "--task", "summarize", "--prompt-reuse", "exact",
                      patches=patches, env={"REDRAFT_MAX_TOKENS": "8"})
    try:
        first = watcher.next_event("answer")
        prefill_s = first["stats"]["wall_s"]
        doc.write_text("Memo. " + LONG_DOC)
        time.sleep(min(1.0, prefill_s / 4))  # into the decoding of the edited prompt
        saved = time.monotonic()
        doc.write_text("Note. " + LONG_DOC)
        cancelled = watcher.next_event("cancelled")
        answer = watcher.next_event("answer")
        assert answer["text"] and doc.read_text().startswith("Note.")
        return cancelled["_received"] - saved
    finally:
        watcher.close()


@pytest.mark.model
@pytest.mark.slow
def test_a_save_during_a_long_prefill_cancels_it_without_waiting_for_its_end(tmp_path):
    fast = _time_to_cancel(tmp_path / "checked", "")
    slow = _time_to_cancel(tmp_path / "unchecked", "no-stop-check")  # control
    print(f"save to cancellation: {fast:.2f} s with the stop check, {slow:.2f} s without")
    assert fast < slow / 2, (fast, slow)
