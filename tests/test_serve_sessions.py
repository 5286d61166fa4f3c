"""Document sessions of `redraft serve` over HTTP, against a live server with the bundled
model: a first refresh answers afresh, the next one redrafts it after an edit, a newer refresh
cancels the running one, a stale base revision is refused, and the race runs both arms.

The store's bounds are tested without a model in test_session_store.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.live_server import Server, live_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

DOC = (
    "Release notes. The library reopens on March 14 after a renovation. Maria Okafor leads "
    "the new children's wing, and the maker space opens a week later.\n"
)
EDITED = DOC.replace("March 14", "April 3")
# An answer long enough to be running when a second refresh arrives.
COUNTING = "Copy the text below word by word, one word per line, then count to 100.\n\n{document}"

Event = tuple[str, dict[str, Any]]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with live_server(tmp_path_factory.mktemp("serve"), env={"REDRAFT_MAX_TOKENS": "40"}) as s:
        yield s


def call(server: Server, method: str, path: str,
         body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of a plain request."""
    try:
        with urllib.request.urlopen(request(server, method, path, body), timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def request(server: Server, method: str, path: str,
            body: dict[str, Any] | None) -> urllib.request.Request:
    data = None if body is None else json.dumps(body).encode()
    return urllib.request.Request(f"{server.base_url}{path}", data=data, method=method,
                                  headers={"Content-Type": "application/json"})


def open_events(server: Server, path: str, body: dict[str, Any]) -> Iterator[Event]:
    """The server-sent events of a POST, read as they arrive."""
    reply = urllib.request.urlopen(request(server, "POST", path, body), timeout=120)
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    with reply:
        name, data = "message", None
        for raw in reply:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                name = line[len("event:"):].strip()
            elif line.startswith("data:"):
                data = json.loads(line[len("data:"):])
            elif not line and data is not None:
                yield name, data
                name, data = "message", None


def events(server: Server, path: str, body: dict[str, Any]) -> list[Event]:
    return list(open_events(server, path, body))


def ending(stream: list[Event]) -> Event:
    """The last event, after checking that only deltas (and, in a race, arm events) precede
    it."""
    *before, last = stream
    assert {name for name, _ in before} <= {"delta", "start", "done"}, stream
    return last


def test_first_refresh_answers_afresh_and_the_next_redrafts_it(server):
    assert call(server, "PUT", "/v1/sessions/notes",
                {"task": "summarize", "document": DOC}) == (200, {"id": "notes", "revision": 0})

    first = events(server, "/v1/sessions/notes/refresh", {"base_revision": 0})
    name, done = ending(first)
    assert name == "done" and done["revision"] == 1 and done["mode"] == "fresh"
    deltas = [data for name, data in first if name == "delta"]
    assert deltas and {d["kind"] for d in deltas} == {"new"}
    assert "".join(d["text"] for d in deltas) == done["text"] and done["tokens"] > 0

    second = events(server, "/v1/sessions/notes/refresh",
                    {"document": EDITED, "base_revision": 1})
    name, done = ending(second)
    assert name == "done" and done["revision"] == 2 and done["mode"] == "redraft"
    held = "".join(data["text"] for name, data in second
                   if name == "delta" and data["kind"] == "held")
    assert held.strip() and done["held"] > 0 and done["stats"]["held"] == done["held"]
    assert "April" in done["text"]

    status, session = call(server, "GET", "/v1/sessions/notes")
    assert status == 200
    assert (session["revision"], session["document"], session["answer"]) == (
        2, EDITED, done["text"])


def test_a_refresh_during_a_refresh_cancels_the_first(server):
    call(server, "PUT", "/v1/sessions/busy",
         {"instruction": COUNTING, "document": DOC, "max_tokens": 300})
    running = open_events(server, "/v1/sessions/busy/refresh", {})
    assert next(running)[0] == "delta"  # it is decoding now

    newer = events(server, "/v1/sessions/busy/refresh", {"document": EDITED})
    assert ending(list(running)) == ("cancelled", {})
    name, done = ending(newer)
    assert name == "done" and done["revision"] == 1  # the cancelled answer was not kept
    status, session = call(server, "GET", "/v1/sessions/busy")
    assert (status, session["revision"], session["document"]) == (200, 1, EDITED)


def test_a_stale_base_revision_is_refused_and_the_current_one_accepted(server):
    call(server, "PUT", "/v1/sessions/stale", {"task": "summarize", "document": DOC})
    assert ending(events(server, "/v1/sessions/stale/refresh", {}))[1]["revision"] == 1

    for stale in (0, 2):
        status, body = call(server, "POST", "/v1/sessions/stale/refresh",
                            {"document": EDITED, "base_revision": stale})
        assert status == 409 and body["error"]["code"] == "stale_revision"
    name, done = ending(events(server, "/v1/sessions/stale/refresh",
                               {"document": EDITED, "base_revision": 1}))
    assert (name, done["revision"]) == ("done", 2)


def test_unknown_and_deleted_sessions_are_404(server):
    for method, path, body in [("GET", "/v1/sessions/nobody", None),
                               ("DELETE", "/v1/sessions/nobody", None),
                               ("POST", "/v1/sessions/nobody/refresh", {"document": DOC}),
                               ("POST", "/race/nobody", {"document": DOC})]:
        status, reply = call(server, method, path, body)
        assert status == 404 and reply["error"]["code"] == "session_not_found", (method, path)

    call(server, "PUT", "/v1/sessions/gone", {"task": "summarize", "document": DOC})
    assert call(server, "DELETE", "/v1/sessions/gone") == (200, {"id": "gone", "deleted": True})
    assert call(server, "GET", "/v1/sessions/gone")[0] == 404


def test_a_session_needs_one_usable_task(server):
    for spec, param in [({"document": DOC}, "task"),
                        ({"task": "summarize", "instruction": "{document}", "document": DOC},
                         "task"),
                        ({"task": "translate", "document": DOC}, "task"),
                        ({"task": "answer", "document": DOC}, "question"),
                        ({"instruction": "Summarize.", "document": DOC}, "instruction")]:
        status, reply = call(server, "PUT", "/v1/sessions/bad", spec)
        assert status == 400 and reply["error"]["param"] == param, spec


def test_the_race_runs_a_fresh_answer_then_a_redraft_and_keeps_the_redraft(server):
    call(server, "PUT", "/v1/sessions/race", {"task": "summarize", "document": DOC})
    status, reply = call(server, "POST", "/race/race", {"document": EDITED})
    assert status == 409 and reply["error"]["code"] == "no_answer"
    ending(events(server, "/v1/sessions/race/refresh", {}))

    race = events(server, "/race/race", {"document": EDITED, "base_revision": 1})
    arms = [(name, data["arm"]) for name, data in race if name != "delta"]
    assert arms == [("start", "regenerate"), ("done", "regenerate"),
                    ("start", "redraft"), ("done", "redraft")]
    done = {data["arm"]: data for name, data in race if name == "done"}
    for arm in ("regenerate", "redraft"):
        text = "".join(d["text"] for name, d in race if name == "delta" and d["arm"] == arm)
        assert text == done[arm]["text"] and done[arm]["wall_s"] > 0
        assert 0 < done[arm]["first_token_s"] <= done[arm]["wall_s"]
    assert done["regenerate"]["held"] == 0 and "revision" not in done["regenerate"]
    assert done["redraft"]["held"] > 0 and done["redraft"]["revision"] == 2
    # Both arms started from the same KV cache: the redraft did not inherit the fresh prompt.
    assert (done["redraft"]["stats"]["prompt_reused"]
            == done["regenerate"]["stats"]["prompt_reused"])
    assert call(server, "GET", "/v1/sessions/race")[1]["answer"] == done["redraft"]["text"]
