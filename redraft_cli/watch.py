"""`redraft watch`: keep the model loaded and redraft each saved file's answer as it changes."""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live

from . import engine_access
from .cache import Cache, Entry
from .changes import ChangeFeed
from .config import Config
from .console import animation_allowed, emit_json, make_console, warn
from .errors import CliError, exit_code_for, one_line
from .inputs import read_document, text_hash
from .jobs import Job, job_for_file, record_answer, start_answer
from .outputs import check_writable, current_text, guard_hand_edit, output_text, write_output
from .render import diff_text, serial_rate, stats_line

if TYPE_CHECKING:
    from redraft_engine import Result

_POLL_S = 0.1
_LIVE_EVERY = 4  # tokens between refreshes of the live view


@dataclass
class WatchOptions:
    out: Path | None = None
    json: bool = False
    force: bool = False
    max_events: int | None = None


class Cancelled(Exception):
    """A newer save of the same file arrived while its answer was being decoded."""


class WatchSession:
    def __init__(self, config: Config, jobs: list[Job], opts: WatchOptions):
        self.config = config
        self.jobs = {j.source.resolve(): j for j in jobs}
        self.opts = opts
        self.console: Console = make_console(stderr=opts.json)
        self.animate = animation_allowed(self.console)
        self.cache = Cache(config.cache_dir, max_size=config.settings.cache_max_size, warn=warn)
        self.engine = engine_access.LazyEngine(
            config.settings, engine_access.identify_model(config.settings)
        )
        self.last: dict[Path, Entry] = {}  # last complete answer per file
        self.pending: list[Path] = []
        self.events = 0
        self.serial_s_per_token: float | None = None
        self.feed: ChangeFeed | None = None

    # --- output ---------------------------------------------------------------------------

    def _event(self, obj: dict[str, Any]) -> None:
        if self.opts.json:
            emit_json(obj)

    def _error(self, path: Path, exc: BaseException) -> None:
        self._event({"event": "error", "file": self.jobs[path].label, "message": str(exc)})
        self.console.print(f"redraft: {one_line(exc)}", style="red", markup=False)

    @property
    def done(self) -> bool:
        return self.opts.max_events is not None and self.events >= self.opts.max_events

    # --- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        if self.opts.out is not None:
            check_writable(self.opts.out)
            for job in self.jobs.values():
                entry = self._cached_entry(job)
                adopt = output_text(entry.answer) if entry is not None else None
                guard_hand_edit(self.cache, self.opts.out, force=self.opts.force, adopt=adopt)
        self.engine.get()  # load once, up front: every answer of the session reuses it
        self.feed = ChangeFeed(self.jobs, debounce_ms=self.config.settings.debounce_ms)
        self.feed.start()
        try:
            self._event({
                "event": "started", "files": [j.label for j in self.jobs.values()],
                "task": next(iter(self.jobs.values())).task.name,
                "model": str(self.engine.model.path),
            })
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

    def _cached_entry(self, job: Job) -> Entry | None:
        return self.cache.load_entry(job.key(self.engine.model.fingerprint))

    def _answer_first(self, path: Path) -> None:
        job = self.jobs[path]
        try:
            document = read_document(path)
        except CliError as exc:
            self._error(path, exc)
            return
        entry = self._cached_entry(job)
        if entry is not None and entry.source_sha256 == text_hash(document):
            self.last[path] = entry
            if entry.mode == "fresh":
                self.serial_s_per_token = serial_rate(entry.stats)
            wanted = output_text(entry.answer)
            if self.opts.out is not None and current_text(self.opts.out) != wanted:
                write_output(self.cache, self.opts.out, wanted)  # run() checked for hand edits
            self._publish(path, "cached", entry.answer, entry.stats, spans=None)
            return
        if entry is not None:
            self.last[path] = entry
        self._answer(path, document)

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
        key = job.key(self.engine.model.fingerprint)
        prompt = job.render(document)
        try:
            mode, stream = start_answer(
                self.engine, self.cache, job, key, prompt, self.last.get(path)
            )
            result = self._consume(path, stream)
        except Cancelled:
            self._event({"event": "cancelled", "file": job.label})
            self.console.print(f"{job.label}: saved again; restarting", style="dim")
            if path not in self.pending:
                self.pending.insert(0, path)
            return
        except Exception as exc:
            if exit_code_for(exc) != 2:
                raise
            self._error(path, exc)
            return
        try:
            with self.cache.lock(key, timeout=job.settings.lock_timeout, what=job.label):
                self.last[path] = record_answer(
                    self.engine, self.cache, job, key, source_sha256=text_hash(document),
                    prompt=prompt, result=result, mode=mode, warn=warn,
                )
                if self.opts.out is not None:
                    guard_hand_edit(self.cache, self.opts.out, force=self.opts.force)
                    write_output(self.cache, self.opts.out, output_text(result.text))
        except CliError as exc:  # a lock held elsewhere, an output edited by hand: say so, go on
            self._error(path, exc)
        stats = result.stats.to_dict()
        self._publish(path, mode, result.text, stats, spans=result.spans)
        rate = serial_rate(stats)
        if rate is not None and (mode == "fresh" or self.serial_s_per_token is None):
            self.serial_s_per_token = rate

    def _consume(self, path: Path, stream: Any) -> Result:
        """Iterate the stream, live if allowed; raise Cancelled when the file is saved again."""

        def superseded() -> bool:
            self._collect(block=False)
            return path in self.pending

        if not self.animate:
            return consume_unless(stream, superseded)
        from redraft_engine.spans import build_spans, with_text

        model = self.engine.get().model
        events: list[Any] = []
        with Live(console=self.console, transient=True, auto_refresh=False) as live:

            def show(event: Any) -> None:
                events.append(event)
                if len(events) % _LIVE_EVERY == 0:
                    pieces = model.text_pieces([e.token for e in events])
                    live.update(diff_text(with_text(build_spans(events), pieces)), refresh=True)

            return consume_unless(stream, superseded, show)

    def _publish(
        self, path: Path, mode: str, text: str, stats: dict[str, Any], spans: list[Any] | None
    ) -> None:
        job = self.jobs[path]
        self.events += 1
        self._event({"event": "answer", "file": job.label, "mode": mode, "text": text,
                     "stats": stats})
        self.console.rule(f"{job.label} · {job.task.name}", style="dim")
        if spans is not None and mode == "redraft":
            color = self.console.is_terminal and not self.console.no_color
            self.console.print(diff_text(spans, color=color))
        else:
            self.console.print(text, markup=False)
        if stats and mode != "cached":
            self.console.print(stats_line(mode, stats, self.serial_s_per_token), style="dim",
                               markup=False)


def consume_unless(
    stream: Any, superseded: Callable[[], bool], on_event: Callable[[Any], None] | None = None
) -> Any:
    """Run `stream` to its result, checking between events whether a newer save arrived.

    On a newer save the stream is closed (the engine keeps a consistent KV cache) and
    Cancelled is raised; the caller redrafts again from the last complete answer.
    """
    try:
        for event in stream:
            if superseded():
                raise Cancelled
            if on_event is not None:
                on_event(event)
    finally:
        stream.close()
    if stream.result is None:
        raise Cancelled
    return stream.result


def watch_command(
    config: Config, files: list[Path], opts: WatchOptions
) -> int:
    if opts.out is not None and len(files) != 1:
        raise CliError("--out needs exactly one watched file")
    jobs = []
    for file in files:
        if not file.exists():
            raise CliError(f"{file}: no such file")
        if file.is_dir():
            raise CliError(f"{file}: is a directory, not a file")
        jobs.append(job_for_file(config, file, opts.out))
    return WatchSession(config, jobs, opts).run()
