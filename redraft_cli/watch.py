"""`redraft watch`: keep the model loaded and redraft each saved file's answer as it changes."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redraft_engine import Span, Stats

from .cache import open_cache
from .cache_format import Entry
from .changes import ChangeFeed
from .config import Config
from .config_values import WATCH_PROMPT_REUSE
from .console import animation_allowed, make_console
from .engine_access import LazyEngine, Models, calibration_notice, engine_json
from .errors import CliError, exit_code_for, print_error
from .inputs import read_document, text_hash
from .jobs import (
    Job,
    job_for_file,
    previous_draft,
    record_answer,
    settle_cached,
    start_answer,
    warn_if_truncated,
)
from .json_out import answer_event, emit, watch_event
from .outcome import Mode
from .outputs import check_writable, guard_hand_edit, output_text, write_output
from .watch_stream import Cancelled, consume_unless, tokens_changed
from .watch_view import consume_live, show_answer, show_confirmation

if TYPE_CHECKING:
    from redraft_engine import Draft, Result, Stream, TokenEvent
    from rich.console import Console

_POLL_S = 0.1


@dataclass
class WatchOptions:
    out: Path | None = None
    json: bool = False
    force: bool = False
    max_events: int | None = None


class WatchSession:
    def __init__(self, config: Config, jobs: list[Job], opts: WatchOptions):
        self.config = config
        self.jobs = {j.source.resolve(): j for j in jobs}
        self.opts = opts
        self.console: Console = make_console(stderr=opts.json)
        self.animate = animation_allowed(self.console)
        self.cache = open_cache(config)
        notice = None if opts.json or not self.console.is_terminal else calibration_notice(
            lambda line: self.console.print(line, style="dim", markup=False))
        self.engine = LazyEngine(config.settings.with_prompt_reuse(WATCH_PROMPT_REUSE), notice)
        self.last: dict[Path, Entry] = {}  # last complete answer per file
        self.pending: list[Path] = []
        self.events = 0
        self.serial_s_per_token: float | None = None
        self.feed: ChangeFeed | None = None
        self.first_token_after_save: float | None = None

    # --- output ---------------------------------------------------------------------------

    def _event(self, obj: dict[str, Any]) -> None:
        if self.opts.json:
            emit(obj)

    def _error(self, path: Path, exc: BaseException) -> None:
        self._event(watch_event("error", file=self.jobs[path].label, message=str(exc)))
        print_error(exc, self.console)

    @property
    def done(self) -> bool:
        return self.opts.max_events is not None and self.events >= self.opts.max_events

    # --- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.cache.ensure()  # as `run` does: refuse before any answer if it cannot be written
        first = next(iter(self.jobs.values()))
        if self.opts.out is not None:
            check_writable(self.opts.out)
            entry = self.cache.load_entry(first.key)
            adopt = output_text(entry.answer) if entry is not None else None
            guard_hand_edit(self.cache, self.opts.out, force=self.opts.force, adopt=adopt)
        loaded = self.engine.get(first.model)  # load once, up front: every answer reuses it
        self.feed = ChangeFeed(self.jobs, quiet_ms=self.config.settings.debounce_ms)
        self.feed.start()
        try:
            self._event(watch_event(
                "started", files=[j.label for j in self.jobs.values()], task=first.task.name,
                model=str(first.model.path), calibration_s=round(self.engine.calibration_s, 3),
                engine=engine_json(loaded),
            ))
            self.console.print(
                f"watching {', '.join(j.label for j in self.jobs.values())} (Ctrl-C to stop)",
                style="dim", markup=False,
            )
            for path in self.jobs:
                self._answer_first(path)
                if self.done:
                    return 0
            while not self.done:
                self._collect(block=True)
                while self.pending and not self.done:
                    self._answer_change(self.pending.pop(0))
            return 0
        finally:
            self.feed.stop()

    def _collect(self, *, block: bool) -> None:
        """Move reported changes into `pending` (each file once, in arrival order)."""
        assert self.feed is not None
        if self.feed.failed is not None:
            raise CliError(f"watching files failed: {self.feed.failed}")
        try:
            changes = self.feed.changes
            path = changes.get(timeout=_POLL_S) if block else changes.get_nowait()
            while True:
                if path not in self.pending:
                    self.pending.append(path)
                path = changes.get_nowait()
        except queue.Empty:
            pass

    # --- answers --------------------------------------------------------------------------

    def _answer_first(self, path: Path) -> None:
        job = self.jobs[path]
        try:
            document = read_document(path)
        except CliError as exc:
            self._error(path, exc)
            return
        entry = self.cache.load_entry(job.key)
        if entry is not None:
            self.last[path] = entry
        if entry is None or entry.source_sha256 != text_hash(document):
            self._answer(path, document)
            return
        if entry.mode is Mode.FRESH:
            self.serial_s_per_token = entry.stats.serial_s_per_token
        try:
            with self.cache.lock(job.key, timeout=job.settings.lock_timeout, what=job.label):
                settle_cached(self.cache, entry, self.opts.out, force=self.opts.force)
        except CliError as exc:
            self._error(path, exc)
        self._publish(path, Mode.CACHED, entry.answer, entry.stats, spans=None)

    def _answer_change(self, path: Path) -> None:
        try:
            document = read_document(path)
        except CliError as exc:
            self._error(path, exc)
            return
        last = self.last.get(path)
        if last is not None and last.source_sha256 == text_hash(document):
            return  # saved back to the content already answered
        self._answer(path, document)

    def _answer(self, path: Path, document: str) -> None:
        job = self.jobs[path]
        prompt = job.render(document)
        previous = self.last.get(path)

        def superseded() -> bool:
            self._collect(block=False)
            return path in self.pending

        try:
            mode, stream = start_answer(self.engine, self.cache, job, prompt, previous,
                                        should_stop=superseded)
            if mode is Mode.FRESH and previous is not None:  # the stored answer was damage
                del self.last[path]
            result = self._consume(path, stream, superseded)
        except Cancelled:
            self._event(watch_event("cancelled", file=job.label))
            self.console.print(f"{job.label}: saved again; restarting", style="dim",
                               markup=False)
            if path not in self.pending:
                self.pending.insert(0, path)
            return
        except Exception as exc:
            if exit_code_for(exc) != 2:
                raise
            self._error(path, exc)
            return
        warn_if_truncated(job, result)
        self._record(path, document, prompt, result, mode)
        self._publish(path, mode, result.text, result.stats, spans=result.spans,
                      after_save=self.first_token_after_save)
        rate = result.stats.serial_s_per_token
        if rate is not None and (mode is Mode.FRESH or self.serial_s_per_token is None):
            self.serial_s_per_token = rate
        if result.stats.prompt_shifted and not self.done:
            redrafted_from = (previous_draft(previous)
                              if previous is not None and mode is Mode.REDRAFT else None)
            self._confirm(path, document, prompt, result, mode, redrafted_from)

    def _record(self, path: Path, document: str, prompt: str, result: Result, mode: Mode) -> None:
        """Write the output (if any) and persist the answer and the engine's KV state."""
        job = self.jobs[path]
        previous = self.last.get(path)
        adopt = None if previous is None else output_text(previous.answer)
        try:
            with self.cache.lock(job.key, timeout=job.settings.lock_timeout, what=job.label):
                if self.opts.out is not None:
                    write_output(self.cache, self.opts.out, output_text(result.text),
                                 force=self.opts.force, adopt=adopt)
                self.last[path] = record_answer(
                    self.engine, self.cache, job, source_sha256=text_hash(document),
                    prompt=prompt, result=result, mode=mode,
                )
        except CliError as exc:  # a lock held elsewhere, an output edited by hand: say so, go on
            self._error(path, exc)

    def _confirm(
        self, path: Path, document: str, prompt: str, shown: Result, mode: Mode,
        redrafted_from: Draft | None,
    ) -> None:
        """In idle time, recompute the blended prompt exactly and re-verify the shown answer
        over it, with the redraft's rule and the edit it answered (`redrafted_from`, the
        previous answer, None after a fresh one); where the exact prompt opens the answer
        otherwise, the previous answer is redrafted over it instead. Any new save stops this at
        once (the blended cache is kept for it)."""
        job = self.jobs[path]

        def saved_again() -> bool:
            self._collect(block=False)
            return bool(self.pending)

        eng = self.engine.get(job.model)
        if saved_again() or not eng.make_prompt_exact(prompt, saved_again):
            if self.pending:
                self._event(watch_event("confirmation_cancelled", file=job.label))
            return
        try:
            stream = eng.stream_confirm(prompt, shown, redrafted_from=redrafted_from,
                                        rule=job.settings.rule, max_tokens=job.settings.max_tokens,
                                        should_stop=saved_again)
            confirmed = consume_unless(stream, saved_again)
        except Cancelled:
            self._event(watch_event("confirmation_cancelled", file=job.label))
            return
        changed = tokens_changed(shown, confirmed)
        self._record(path, document, prompt, confirmed, mode)
        self._event(watch_event("confirmed", file=job.label, changed_tokens=changed,
                                text=confirmed.text, stats=confirmed.stats.to_dict()))
        show_confirmation(self.console, shown, confirmed, changed)

    def _consume(self, path: Path, stream: Stream, superseded: Callable[[], bool]) -> Result:
        """Iterate the stream, live if allowed; raise Cancelled when the file is saved again.
        Notes in `first_token_after_save` how long after the save the first token came."""
        saved = None if self.feed is None else self.feed.saved_at.get(path)
        self.first_token_after_save = None

        def note_first(event: TokenEvent) -> None:
            if event.index == 0 and saved is not None:
                self.first_token_after_save = max(0.0, time.time() - saved)

        if not self.animate:
            return consume_unless(stream, superseded, note_first)
        return consume_live(self.console, stream, superseded, note_first)

    def _publish(
        self, path: Path, mode: Mode, text: str, stats: Stats | None, spans: list[Span] | None,
        *, after_save: float | None = None,
    ) -> None:
        job = self.jobs[path]
        self.events += 1
        self._event(answer_event(job.label, mode, text, stats,
                                 save_to_first_token_s=after_save))
        show_answer(self.console, f"{job.label} · {job.task.name}", mode, text, stats, spans,
                    self.serial_s_per_token, after_save)


def watch_command(config: Config, files: list[Path], opts: WatchOptions) -> int:
    if opts.out is not None and len(files) != 1:
        raise CliError("--out needs exactly one watched file")
    models = Models()
    jobs = [job_for_file(config, models, file, opts.out) for file in files]
    return WatchSession(config, jobs, opts).run()
