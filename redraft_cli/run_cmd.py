"""`redraft run`: answer one file, or every configured target, skipping unchanged ones."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engine_access
from .cache import Cache
from .config import Config
from .console import emit_json, warn
from .errors import CHANGED, OK, USAGE, CliError, ConfigError, exit_code_for, one_line
from .inputs import read_document, text_hash
from .jobs import Job, job_for_file, job_for_target, record_answer, start_answer
from .outputs import check_writable, current_text, guard_hand_edit, output_text, write_output
from .render import stats_line

UNCHANGED, CACHED, STALE, FRESH, REDRAFT = "unchanged", "cached", "stale", "fresh", "redraft"


@dataclass
class Report:
    """What happened to one job."""

    job: Job
    mode: str | None = None
    stats: dict[str, Any] | None = None
    text: str | None = None
    error: str | None = None
    wrote: bool = False
    exit_code: int = OK

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "source": self.job.label,
            "output": None if self.job.output is None else str(self.job.output),
            "task": self.job.task.name,
            "mode": self.mode,
            "stats": self.stats,
        }
        if self.job.output is None and self.text is not None:
            doc["text"] = self.text
        if self.error is not None:
            doc["error"] = self.error
        return doc


@dataclass
class RunOptions:
    check: bool = False
    force: bool = False
    json: bool = False
    reports: list[Report] = field(default_factory=list)


def plan_jobs(config: Config, file: Path | None, out: Path | None) -> list[Job]:
    if file is not None:
        return [job_for_file(config, file, out)]
    if not config.targets:
        raise ConfigError(
            "no FILE given and no [[targets]] in redraft.toml or [tool.redraft] of pyproject.toml"
        )
    return [job_for_target(config, t) for t in config.targets]


def process(job: Job, engine: engine_access.LazyEngine, cache: Cache, opts: RunOptions) -> Report:
    document = read_document(job.source)
    prompt = job.render(document)
    source_sha = text_hash(document)
    key = job.key(engine.model.fingerprint)
    settings = job.settings
    if job.output is not None:
        check_writable(job.output)
    with cache.lock(key, timeout=settings.lock_timeout, what=job.label):
        entry = cache.load_entry(key)
        if entry is not None and entry.source_sha256 == source_sha:
            if job.output is None:
                return Report(job, UNCHANGED, text=entry.answer)
            wanted = output_text(entry.answer)
            if current_text(job.output) == wanted:
                return Report(job, UNCHANGED)
            guard_hand_edit(cache, job.output, force=opts.force, adopt=wanted)
            if opts.check:
                return Report(job, STALE, exit_code=CHANGED)
            write_output(cache, job.output, wanted)
            return Report(job, CACHED, wrote=True, exit_code=CHANGED)

        if job.output is not None:
            guard_hand_edit(cache, job.output, force=opts.force)
        if opts.check:
            return Report(job, STALE, exit_code=CHANGED)
        mode, stream = start_answer(engine, cache, job, key, prompt, entry)
        result = stream.run()
        if job.output is not None:
            write_output(cache, job.output, output_text(result.text))
        record_answer(engine, cache, job, key, source_sha256=source_sha, prompt=prompt,
                      result=result, mode=mode, warn=warn)
        wrote = job.output is not None
        return Report(job, mode, result.stats.to_dict(), result.text, wrote=wrote,
                      exit_code=CHANGED if wrote else OK)


def _is_input_error(exc: Exception) -> bool:
    """Errors that concern one target (its document, task or output), not the whole run."""
    from redraft_engine.errors import InvalidModelError, ModelNotFoundError

    if isinstance(exc, (ModelNotFoundError, InvalidModelError)):
        return False
    return exit_code_for(exc) == USAGE


def run_jobs(config: Config, jobs: list[Job], opts: RunOptions) -> int:
    cache = Cache(config.cache_dir, max_size=config.settings.cache_max_size, warn=warn)
    model = engine_access.identify_model(config.settings)
    engine = engine_access.LazyEngine(config.settings, model)
    code = OK
    for job in jobs:
        try:
            report = process(job, engine, cache, opts)
        except Exception as exc:
            if not _is_input_error(exc):
                raise
            report = Report(job, error=str(exc), exit_code=USAGE)
            print(f"redraft: {one_line(exc)}", file=sys.stderr)
        opts.reports.append(report)
        code = max(code, report.exit_code)
        if not opts.json:
            _print_human(report)
    if opts.json:
        emit_json({"targets": [r.to_json() for r in opts.reports], "exit_code": code})
    return code


def _print_human(report: Report) -> None:
    if report.error is not None:
        return
    job = report.job
    where = job.label if job.output is None else f"{job.label} -> {os.path.relpath(job.output)}"
    if report.mode in (FRESH, REDRAFT) and report.stats is not None:
        line = stats_line(report.mode, report.stats)
    else:
        line = report.mode or ""
    print(f"{where}: {line}", file=sys.stderr, flush=True)
    if job.output is None and report.text is not None:
        sys.stdout.write(output_text(report.text))
        sys.stdout.flush()


def check_file_options(file: Path | None, **per_file: Any) -> None:
    """--task, --prompt, --question and --out describe one FILE; targets carry their own."""
    given = [f"--{name.replace('_', '-')}" for name, value in per_file.items() if value]
    if file is None and given:
        verb = "needs" if len(given) == 1 else "need"
        raise CliError(f"{', '.join(given)} {verb} a FILE; configured targets set their own")
