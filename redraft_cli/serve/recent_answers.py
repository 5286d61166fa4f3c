"""The answers this server gave recently, so that a prediction which is one of them is
replayed as that answer: its tokens, the prompt it answered and the margins it was decided
at. A prediction known only as text is retokenized, and the edit-aware guards cannot see what
the edit changed (only the digit and copy guards apply, and no old decision is a near-tie).
Runs on the engine's thread only."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redraft_engine import Draft, Result


class RecentAnswers:
    def __init__(self, max_entries: int = 64):
        self.max_entries = max_entries
        self._drafts: OrderedDict[str, Draft] = OrderedDict()

    def remember(self, result: Result) -> None:
        if not result.tokens:
            return
        self._drafts.pop(result.text, None)
        self._drafts[result.text] = result.draft
        while len(self._drafts) > self.max_entries:
            self._drafts.popitem(last=False)

    def draft_for(self, text: str) -> Draft | None:
        """The draft of a recent answer whose text is exactly `text`, if any."""
        draft = self._drafts.get(text)
        if draft is not None:
            self._drafts.move_to_end(text)
        return draft
