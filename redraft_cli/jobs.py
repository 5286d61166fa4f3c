"""A job is one document to answer with one task; this module starts, settles and records its
answers. `run` and `watch` both go through it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from redraft_engine import Draft, InvalidTokenError, ModelFile

from .cache import Cache
from .cache_format import Entry, entry_key
from .config import Config, Settings, Target
from .console import warn
from .engine_access import LazyEngine, Models
from .errors import CliError
from .outcome import Mode
from .outputs import current_text, guard_hand_edit, output_text, write_output
from .tasks import Task

if TYPE_CHECKING:
    from redraft_engine import Engine, Result, Stream

# Settings that change the answer, and so belong in the cache key (threads, paths do not).
ANSWER_SETTINGS = ("question", "max_tokens", "rule", "n_ctx")


@dataclass(frozen=True)
class Job:
    label: str
    source: Path
    output: Path | None
    task: Task
    settings: Settings
    model: ModelFile

    def render(self, document: str) -> str:
        return self.task.render(document, self.settings.question)

    @property
    def answer_settings(self) -> dict[str, object]:
        return {name: getattr(self.settings, name) for name in ANSWER_SETTINGS}

    @property
    def key(self) -> str:
        return entry_key(model=self.model.fingerprint, template=self.task.template,
                         settings=self.answer_settings, source=self.label)


def display_path(path: Path, root: Path) -> str:
    """`path` relative to the project root when it lies inside it, else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return str(resolved)


def job_for_file(config: Config, models: Models, file: Path, output: Path | None) -> Job:
    if output is not None and output.resolve() == file.resolve():
        raise CliError(f"--out {output} is the document itself; choose another output file")
    settings = config.settings
    return Job(display_path(file, config.root), file, output, config.task(settings), settings,
               models.identify(settings))


def job_for_target(config: Config, models: Models, target: Target) -> Job:
    settings = config.settings_for(target)
    return Job(display_path(target.source, config.root), target.source, target.output,
               config.task(settings), settings, models.identify(settings))


def settle_cached(
    cache: Cache, entry: Entry, output: Path | None, *, force: bool, check: bool = False
) -> Mode:
    """The stored answer is current for the source: make `output` hold it (call under the
    target's lock). UNCHANGED if it does, STALE under `check`, CACHED once written."""
    if output is None:
        return Mode.UNCHANGED
    wanted = output_text(entry.answer)
    if current_text(output) == wanted:
        return Mode.UNCHANGED
    if check:
        guard_hand_edit(cache, output, force=force, adopt=wanted)
        return Mode.STALE
    write_output(cache, output, wanted, force=force, adopt=wanted)  # checks for a hand edit
    return Mode.CACHED


def restore_state(engine: LazyEngine, cache: Cache, job: Job) -> Engine:
    """The engine for `job`, holding the persisted KV state of its target when there is one."""
    eng = engine.get(job.model)
    if engine.holds == job.key:
        return eng
    state = cache.load_state(job.key, job.model.fingerprint)
    if state is None:
        return eng
    if eng.import_state(*state):
        engine.holds = job.key
    else:
        cache.warn(f"the saved KV state of {job.label} did not load; "
                   "the prompt will be recomputed")
        cache.drop_state(job.key)
    return eng


def start_answer(
    engine: LazyEngine, cache: Cache, job: Job, prompt: str, previous: Entry | None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Mode, Stream]:
    """(REDRAFT, stream) replaying `previous`, or (FRESH, stream) without one (also when the
    stored answer's tokens do not belong to the model: that entry is damage, dropped).
    `should_stop` can end the stream while its prompt is decoded (see `Engine.stream_generate`)."""
    eng = restore_state(engine, cache, job)
    # Even a cancelled answer leaves a consistent cache of this target's newest prompt, which
    # shares more with the next save than the persisted state: keep it for the next answer.
    engine.holds = job.key
    max_tokens = job.settings.max_tokens
    if previous is not None:
        try:
            return Mode.REDRAFT, eng.stream_redraft(
                prompt, previous_draft(previous), rule=job.settings.rule,
                max_tokens=max_tokens, should_stop=should_stop)
        except InvalidTokenError as exc:
            cache.drop_entry(previous, f"the stored answer: {exc}")
    return Mode.FRESH, eng.stream_generate(prompt, max_tokens=max_tokens,
                                           should_stop=should_stop)


def previous_draft(previous: Entry) -> Draft:
    """The recorded answer as a draft to redraft, with the prompt it answered."""
    return Draft(previous.answer_tokens, previous.prompt, previous.answer_margins,
                 previous.stats.ended)


def warn_if_truncated(job: Job, result: Result) -> None:
    if result.stats.truncated:
        warn(f"the answer for {job.label} was cut at {result.stats.emitted} tokens: its prompt "
             f"({result.stats.prompt_tokens} tokens) nearly fills the context window; raise "
             "n_ctx or shorten the document")


def record_answer(
    engine: LazyEngine, cache: Cache, job: Job, *, source_sha256: str, prompt: str,
    result: Result, mode: Mode,
) -> Entry:
    """Save the completed answer and the engine's KV state for the next process (under the
    target's lock). A state that cannot be saved costs the next run its prompt reuse only."""
    eng = engine.get(job.model)
    tokens, data = eng.export_state()
    approximate = eng.approximate_ranges
    engine.holds = job.key
    margins = result.draft.margins
    entry = Entry(
        key=job.key, source=job.label, source_sha256=source_sha256, task=job.task.name,
        template=job.task.template, settings=job.answer_settings,
        model=job.model.fingerprint, prompt=prompt,
        prompt_tokens=tokens[: result.stats.prompt_tokens], answer=result.text,
        answer_tokens=list(result.tokens), stats=result.stats, mode=mode,
        answer_margins=None if margins is None else list(margins),
    )
    cache.save_entry(entry)
    try:
        saved = cache.save_state(job.key, job.model.fingerprint, tokens, data, approximate)
    except OSError as exc:
        warn(f"the KV state of {job.label} was not saved ({exc.strerror or exc}); "
             "the next run recomputes its prompt")
    else:
        if not saved:
            warn(f"the KV state of {job.label} ({len(data)} bytes) exceeds cache_max_size; "
                 "not persisted")
    return entry
