"""`redraft run`: answer one file, or every configured target, skipping unchanged ones.

Exit codes follow code formatters: 0 once every output is written (or was current), 1 only
under `--check` when an output is stale.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import Cache, open_cache
from .config import Config
from .config_values import FINAL_PROMPT_REUSE
from .engine_access import LazyEngine, Models, calibration_notice, engine_json
from .errors import CHANGED, OK, USAGE, CliError, ConfigError, exit_code_for, print_error
from .faults import crash_point
from .inputs import read_document, text_hash
from .jobs import (
    Job,
    display_path,
    job_for_file,
    job_for_target,
    record_answer,
    settle_cached,
    start_answer,
    warn_if_truncated,
)
from .outcome import Mode
from .outputs import check_writable, guard_hand_edit, output_text, write_output
from .render import stats_line

if TYPE_CHECKING:
    from redraft_engine import Stats


@dataclass
class Report:
    """What happened to one job."""

    job: Job
    mode: Mode | None = None
    stats: Stats | None = None
    text: str | None = None
    error: str | None = None
    exit_code: int = OK

    def to_json(self, root: Path) -> dict[str, Any]:
        from .json_out import job_json

        output = None if self.job.output is None else output_label(self.job.output, root)
        return job_json(source=self.job.label, output=output, task=self.job.task.name,
                        mode=self.mode, stats=self.stats, text=self.text, error=self.error)


@dataclass
class RunOptions:
    check: bool = False
    force: bool = False
    json: bool = False
    reports: list[Report] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # outputs complete on disk


def plan_jobs(config: Config, models: Models, file: Path | None, out: Path | None) -> list[Job]:
    if file is not None:
        return [job_for_file(config, models, file, out)]
    if not config.targets:
        raise ConfigError(
            "no FILE given and no [[targets]] in redraft.toml or [tool.redraft] of pyproject.toml"
        )
    return [job_for_target(config, models, t) for t in config.targets]


def process(job: Job, engine: LazyEngine, cache: Cache, opts: RunOptions) -> Report:
    document = read_document(job.source)
    source_sha = text_hash(document)
    if job.output is not None:
        check_writable(job.output)
    with cache.lock(job.key, timeout=job.settings.lock_timeout, what=job.label):
        cache.sweep_temporaries(job.key)
        entry = cache.load_entry(job.key)
        if entry is not None and entry.source_sha256 == source_sha:
            mode = settle_cached(cache, entry, job.output, force=opts.force, check=opts.check)
            if mode is Mode.CACHED and job.output is not None:
                opts.written.append(job.output)
            code = CHANGED if mode is Mode.STALE else OK
            text = entry.answer if job.output is None else None
            return Report(job, mode, text=text, exit_code=code)

        # An output holding the stored answer is redraft's own even if its record was lost.
        adopt = None if entry is None else output_text(entry.answer)
        if job.output is not None:  # fail before any model work on a known hand edit
            guard_hand_edit(cache, job.output, force=opts.force, adopt=adopt)
        if opts.check:
            return Report(job, Mode.STALE, exit_code=CHANGED)
        prompt = job.render(document)
        mode, stream = start_answer(engine, cache, job, prompt, entry)
        result = stream.run()
        warn_if_truncated(job, result)
        crash_point("answer:ready")
        if job.output is not None:
            write_output(cache, job.output, output_text(result.text), force=opts.force,
                         adopt=adopt)
            opts.written.append(job.output)
        record_answer(engine, cache, job, source_sha256=source_sha, prompt=prompt,
                      result=result, mode=mode)
        return Report(job, mode, result.stats, result.text)


def output_label(output: Path, root: Path) -> str:
    """How messages and `--json` name an output: like a source (see display_path), but a
    symbolic link by its own name rather than its target's."""
    return (Path(display_path(output.parent, root)) / output.name).as_posix()


def _is_input_error(exc: Exception) -> bool:
    """Errors that concern one target (its document, task or output), not the whole run."""
    from redraft_engine import InvalidModelError, ModelNotFoundError

    if isinstance(exc, (ModelNotFoundError, InvalidModelError)):
        return False
    return exit_code_for(exc) == USAGE


def run_jobs(config: Config, jobs: list[Job], opts: RunOptions) -> int:
    cache = open_cache(config)
    notice = None if opts.json or not sys.stderr.isatty() else calibration_notice(
        lambda line: print(f"redraft: {line}", file=sys.stderr, flush=True))
    engine = LazyEngine(config.settings.with_prompt_reuse(FINAL_PROMPT_REUSE), notice)
    code = OK
    for job in jobs:
        try:
            report = process(job, engine, cache, opts)
        except KeyboardInterrupt:
            if opts.written:
                done = ", ".join(output_label(p, config.root) for p in opts.written)
                print(f"redraft: interrupted; complete before it: {done}", file=sys.stderr)
            raise
        except Exception as exc:
            if not _is_input_error(exc):
                raise
            report = Report(job, error=str(exc), exit_code=USAGE)
            print_error(exc)
        opts.reports.append(report)
        code = max(code, report.exit_code)
        if not opts.json:
            _print_human(report, config.root)
    if opts.json:
        from .json_out import emit, run_document

        loaded = engine.loaded
        emit(run_document([r.to_json(config.root) for r in opts.reports], code,
                          calibration_s=engine.calibration_s,
                          engine=None if loaded is None else engine_json(loaded)))
    return code


def _print_human(report: Report, root: Path) -> None:
    if report.error is not None or report.mode is None:
        return
    job = report.job
    where = job.label if job.output is None else f"{job.label} -> {output_label(job.output, root)}"
    line = stats_line(report.mode, report.stats) if report.stats else report.mode.value
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
