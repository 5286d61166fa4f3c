"""Progress on stderr: a Rich bar on a terminal, one plain line per case otherwise."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from redraft_cli.console import animation_allowed


class BenchProgress:
    """Counts engine calls: one old answer plus every arm of every repeat, per case."""

    def __init__(self, n_cases: int, steps_per_case: int):
        self.console = Console(stderr=True, highlight=False)
        self.n_cases = n_cases
        self.animate = animation_allowed(self.console)
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=True,
            disable=not self.animate,
        )
        self._task = self._bar.add_task("bench", total=n_cases * steps_per_case)
        self._done = 0
        self._case = ""
        self._pending = False

    def __enter__(self) -> BenchProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def start_case(self, case_id: str) -> None:
        self._case = case_id

    def step(self, arm: str) -> None:
        """Called before each engine call of the current case."""
        self._finish_step()
        self._pending = True
        label = f"[{self._done + 1}/{self.n_cases}] {self._case}: {arm}"
        self._bar.update(self._task, description=label)

    def end_case(self, note: str) -> None:
        self._finish_step()
        self._done += 1
        if not self.animate:
            print(f"redraft bench: [{self._done}/{self.n_cases}] {self._case} {note}",
                  file=sys.stderr, flush=True)

    def _finish_step(self) -> None:
        if self._pending:
            self._bar.advance(self._task)
            self._pending = False
