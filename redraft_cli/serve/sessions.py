"""Document sessions: a document, the task that answers it, and its last complete answer, which
the next refresh replays as its draft (the `watch` loop, for editors that talk HTTP).

The store is bounded by a count and by the characters it holds; the least recently used
session goes first. It is used from the event loop only; the engine thread sees a session's
`Ticket`, never the session itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redraft_cli.tasks import Task

if TYPE_CHECKING:
    from redraft_engine import Result

MAX_STORED_CHARS = 64 << 20


class Ticket:
    """One refresh's right to keep its answer. A newer refresh of the session, or the session
    going away, revokes it; the engine thread polls `revoked` to stop early."""

    def __init__(self) -> None:
        self._revoked = threading.Event()

    def revoke(self) -> None:
        self._revoked.set()

    @property
    def revoked(self) -> bool:
        return self._revoked.is_set()


@dataclass
class Session:
    id: str
    task: Task
    question: str | None
    max_tokens: int | None
    document: str  # the document the answer answers (the one given at creation before that)
    revision: int = 0
    answer: Result | None = None
    running: Ticket | None = field(default=None, repr=False)

    def prompt(self, document: str) -> str:
        return self.task.render(document, self.question)

    @property
    def stored_chars(self) -> int:
        """What the session holds, counted in characters: the document, and the answer with
        the prompt it keeps as a draft."""
        if self.answer is None:
            return len(self.document)
        return len(self.document) + len(self.answer.prompt_text) + len(self.answer.text)

    def begin(self) -> Ticket:
        """A ticket for a new refresh; the running one, if any, is revoked."""
        self.stop()
        self.running = Ticket()
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            self.running.revoke()
            self.running = None

    def release(self, ticket: Ticket) -> None:
        """`ticket`'s refresh ended without an answer to keep."""
        if self.running is ticket:
            self.running = None


class SessionStore:
    def __init__(self, max_sessions: int, max_chars: int = MAX_STORED_CHARS):
        self.max_sessions = max_sessions
        self.max_chars = max_chars
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions

    @property
    def stored_chars(self) -> int:
        return sum(s.stored_chars for s in self._sessions.values())

    def put(self, session: Session) -> None:
        """Add `session`, replacing (and stopping) one of the same id."""
        self.delete(session.id)
        self._sessions[session.id] = session
        self._evict(keep=session.id)

    def get(self, session_id: str) -> Session | None:
        """The session, now the most recently used; None if there is none by that id."""
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
        return session

    def delete(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        session.stop()
        return True

    def finish(self, session: Session, ticket: Ticket, document: str, answer: Result) -> bool:
        """Keep `answer` to `document` as the session's new revision, if `ticket` still holds
        (no newer refresh took over, and the session was not replaced or removed)."""
        if ticket.revoked or session.running is not ticket or self.get(session.id) is not session:
            return False
        session.running = None
        session.document = document
        session.answer = answer
        session.revision += 1
        self._evict(keep=session.id)
        return True

    def _evict(self, keep: str) -> None:
        """Drop least recently used sessions, never `keep`, until both bounds hold."""
        while len(self._sessions) > 1 and (
            len(self._sessions) > self.max_sessions or self.stored_chars > self.max_chars
        ):
            oldest = next(iter(self._sessions))
            if oldest == keep:
                self._sessions.move_to_end(keep)
                continue
            self.delete(oldest)
