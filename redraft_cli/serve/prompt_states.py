"""The KV states of recent prompts, so that a request starts from the one that shares the
longest prefix with its prompt, not only from whatever the engine decoded last.

Bounded by count and bytes; the least recently used state goes first. Runs on the engine's
thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redraft_engine.prefix import shared_prefix

if TYPE_CHECKING:
    from redraft_engine import Engine


@dataclass(frozen=True)
class SavedState:
    tokens: tuple[int, ...]
    data: bytes
    approximate: tuple[tuple[int, int], ...]


class PromptStates:
    def __init__(self, max_entries: int, max_bytes: int):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[int, ...], SavedState] = OrderedDict()
        self.restored = 0  # states imported because they beat the live cache

    @property
    def size(self) -> int:
        return sum(len(s.data) for s in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def prepare(self, engine: Engine, prompt: Sequence[int]) -> None:
        """Load the kept state that shares more of `prompt` than the live cache does."""
        live = shared_prefix(engine.session.tokens, prompt)
        best, best_len = None, live
        for state in self._states.values():
            n = shared_prefix(state.tokens, prompt)
            if n > best_len:
                best, best_len = state, n
        if best is None:
            return
        self._states.move_to_end(best.tokens)
        if engine.import_state(best.tokens, best.data, best.approximate):
            self.restored += 1
        else:
            del self._states[best.tokens]  # it did not load: it never will

    def remember(self, engine: Engine) -> None:
        """Keep the engine's current state (prompt and answer) as the most recent."""
        tokens, data = engine.export_state()
        if not tokens or len(data) > self.max_bytes:
            return
        key = tuple(tokens)
        self._states.pop(key, None)
        self._states[key] = SavedState(key, data, tuple(engine.approximate_ranges))
        while len(self._states) > self.max_entries or self.size > self.max_bytes:
            self._states.popitem(last=False)
