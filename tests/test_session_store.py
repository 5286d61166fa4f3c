"""The document sessions' store (redraft_cli/serve/sessions.py) without a model: least recently
used sessions make room by count and by stored text, and an answer is kept only while its
refresh's ticket holds."""

from redraft_engine import Result, Stats

from redraft_cli.serve.sessions import Session, SessionStore
from redraft_cli.tasks import BUILTIN_TASKS


def session(session_id: str, document: str = "doc") -> Session:
    return Session(session_id, BUILTIN_TASKS["summarize"], None, None, document)


def answer(prompt: str, text: str) -> Result:
    return Result(text=text, tokens=[], spans=[], stats=Stats(),
                  messages=[{"role": "user", "content": prompt}])


def test_the_least_recently_used_session_goes_first_when_the_count_is_full():
    store = SessionStore(max_sessions=3)
    for name in "abc":
        store.put(session(name))
    assert store.get("a") is not None  # now the most recently used
    store.put(session("d"))
    assert "b" not in store
    assert [name in store for name in "acd"] == [True, True, True]
    store.put(session("e"))
    assert "c" not in store and len(store) == 3


def test_stored_text_is_bounded_too_counting_the_answer_and_its_prompt():
    store = SessionStore(max_sessions=10, max_chars=100)
    store.put(session("a", "x" * 40))
    store.put(session("b", "y" * 40))
    assert len(store) == 2
    b = store.get("b")
    assert b is not None
    ticket = b.begin()
    assert store.finish(b, ticket, "y" * 40, answer("y" * 40, "z" * 10))
    assert "a" not in store and "b" in store  # 90 characters in b alone
    store.put(session("c", "w" * 500))  # the newest is kept even over the bound
    assert "b" not in store and "c" in store and len(store) == 1


def test_an_answer_is_kept_as_a_new_revision_only_while_its_ticket_holds():
    store = SessionStore(max_sessions=4)
    s = session("s")
    store.put(s)
    first = s.begin()
    second = s.begin()  # a newer refresh revokes the running one
    assert first.revoked and not second.revoked
    assert not store.finish(s, first, "old", answer("p", "old answer"))
    assert store.finish(s, second, "new", answer("p", "new answer"))
    assert (s.revision, s.document, s.answer and s.answer.text) == (1, "new", "new answer")
    assert s.running is None


def test_replacing_or_deleting_a_session_stops_its_refresh():
    store = SessionStore(max_sessions=4)
    old = session("s")
    store.put(old)
    ticket = old.begin()
    store.put(session("s", "replaced"))
    assert ticket.revoked
    assert not store.finish(old, ticket, "doc", answer("p", "a"))
    current = store.get("s")
    assert current is not None and current.revision == 0
    running = current.begin()
    assert store.delete("s") and running.revoked and "s" not in store
    assert not store.delete("s")


def test_an_evicted_session_stops_its_refresh():
    store = SessionStore(max_sessions=1)
    first = session("a")
    store.put(first)
    ticket = first.begin()
    store.put(session("b"))
    assert ticket.revoked and "a" not in store


def test_a_refresh_that_ends_without_an_answer_releases_only_its_own_ticket():
    s = session("s")
    first = s.begin()
    second = s.begin()
    s.release(first)
    assert s.running is second
    s.release(second)
    assert s.running is None
