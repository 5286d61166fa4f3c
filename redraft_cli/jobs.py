"""A job is one document to answer with one task; this module starts and records its answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache, Entry, entry_key
from .config import Config, Settings, Target
from .engine_access import LazyEngine
from .errors import CliError
from .tasks import Task

if TYPE_CHECKING:
    from redraft_engine import Result, Stream

# Settings that change the answer, and so belong in the cache key (threads, paths do not).
ANSWER_SETTINGS = ("question", "max_tokens", "rule", "n_ctx")


@dataclass(frozen=True)
class Job:
    label: str
    source: Path
    output: Path | None
    task: Task
    settings: Settings
    source_id: str

    def render(self, document: str) -> str:
        return self.task.render(document, self.settings.question)

    def key(self, model_fingerprint: str) -> str:
        answer = {name: getattr(self.settings, name) for name in ANSWER_SETTINGS}
        return entry_key(
            model=model_fingerprint, template=self.task.template, settings=answer,
            source=self.source_id,
        )


def display_path(path: Path, root: Path) -> str:
    """`path` relative to the project root when it lies inside it, else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return str(resolved)


def job_for_file(config: Config, file: Path, output: Path | None) -> Job:
    if output is not None and output.resolve() == file.resolve():
        raise CliError(f"--out {output} is the document itself; choose another output file")
    settings = config.settings
    source_id = display_path(file, config.root)
    return Job(source_id, file, output, config.task(settings), settings, source_id)


def job_for_target(config: Config, target: Target) -> Job:
    settings = config.settings_for(target)
    source_id = display_path(target.source, config.root)
    return Job(source_id, target.source, target.output, config.task(settings), settings,
               source_id)


def previous_result(entry: Entry) -> Result:
    """The cached answer as a Result the engine can replay (its exact tokens, its prompt)."""
    from redraft_engine import Result, Stats

    return Result(
        text=entry.answer, tokens=list(entry.answer_tokens), spans=[], stats=Stats(),
        messages=[{"role": "user", "content": entry.prompt}],
    )


def restore_state(engine: LazyEngine, cache: Cache, key: str) -> None:
    """Load the persisted KV state of `key` into the engine unless it holds that target already."""
    if engine.holds == key:
        return
    state = cache.load_state(key, engine.model.fingerprint)
    if state is None:
        return
    if engine.get().import_state(*state):
        engine.holds = key
    else:
        cache.warn(f"the saved KV state of {key} did not load; the prompt will be recomputed")
        cache.drop_state(key)


def start_answer(
    engine: LazyEngine, cache: Cache, job: Job, key: str, prompt: str, previous: Entry | None
) -> tuple[str, Stream]:
    """("redraft", stream) replaying `previous`, or ("fresh", stream) without one."""
    restore_state(engine, cache, key)
    eng = engine.get()
    engine.holds = None  # until the answer completes, the cache holds a partial state
    max_tokens = job.settings.max_tokens
    if previous is None:
        return "fresh", eng.stream_generate(prompt, max_tokens=max_tokens)
    stream = eng.stream_redraft(
        prompt, previous_result(previous), rule=job.settings.rule, max_tokens=max_tokens
    )
    return "redraft", stream


def record_answer(
    engine: LazyEngine, cache: Cache, job: Job, key: str, *, source_sha256: str, prompt: str,
    result: Result, mode: str, warn: Callable[[str], None] | None = None,
) -> Entry:
    """Save the completed answer and the engine's KV state for the next process."""
    tokens, data = engine.get().export_state()
    engine.holds = key
    entry = Entry(
        key=key, source=job.source_id, source_sha256=source_sha256, task=job.task.name,
        template=job.task.template, settings={n: getattr(job.settings, n) for n in ANSWER_SETTINGS},
        model=engine.model.fingerprint, prompt=prompt,
        prompt_tokens=tokens[: result.stats.prompt_tokens], answer=result.text,
        answer_tokens=list(result.tokens), stats=result.stats.to_dict(), mode=mode,
    )
    cache.save_entry(entry)
    if not cache.save_state(key, engine.model.fingerprint, tokens, data) and warn:
        warn(f"the KV state of {job.label} ({len(data)} bytes) exceeds cache_max_size; "
             "not persisted")
    return entry

