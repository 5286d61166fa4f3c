"""`redraft watch` drops a stream that a newer save supersedes (a fake stream, no model)."""

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
    from redraft_cli.watch import Cancelled, consume_unless

    stream = FakeStream(10)
    seen = []
    with pytest.raises(Cancelled):
        consume_unless(stream, superseded=lambda: len(seen) >= 3, on_event=seen.append)
    assert seen == [0, 1, 2] and stream.yielded == 4 and stream.closed
    assert stream.result is None

    complete = FakeStream(5)
    assert consume_unless(complete, superseded=lambda: False) == "answer"
    assert complete.closed
