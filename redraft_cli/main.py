"""The `redraft` command line: run, watch, config, cache (and bench, when installed).

Nothing here imports llama_cpp or the engine at import time: `redraft --help` and a `run`
whose targets are unchanged never load the model.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import INTERRUPTED, error_boundary

app = typer.Typer(
    name="redraft",
    help="Incremental LLM answers: when a document changes, reuse the unchanged prompt's KV "
    "cache and replay the previous answer as a draft, so only what changed is re-decoded.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
cache_app = typer.Typer(help="Inspect or empty the project's .redraft/ cache.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")

# --- options shared by run and watch ---------------------------------------------------------
TaskOpt = Annotated[str | None, typer.Option(
    "--task", "-t", help="Task: summarize, review, answer, or a name from [tasks] in config.")]
PromptOpt = Annotated[str | None, typer.Option(
    "--prompt", "-p", help="Custom prompt template; must contain {document}.")]
QuestionOpt = Annotated[str | None, typer.Option(
    "--question", "-q", help="The question, for the 'answer' task.")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", help="GGUF model file (default: $REDRAFT_MODEL, else the bundled "
    "SmolLM2-135M-Instruct).")]
MaxTokensOpt = Annotated[int | None, typer.Option(
    "--max-tokens", help="Longest answer, in tokens (default 256).", min=1)]
RuleOpt = Annotated[str | None, typer.Option(
    "--rule", help="Acceptance rule of a redraft: tolerant (default) or exact.")]
NCtxOpt = Annotated[int | None, typer.Option(
    "--n-ctx", help="Context window in tokens (default 4096).", min=1)]
ThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", help="CPU threads (default: all cores).", min=1)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Overwrite an output file even if it was edited by hand.")]


def _flags(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _boundary(ctx: typer.Context) -> Any:
    return error_boundary(bool(ctx.obj and ctx.obj.get("traceback")))


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"redraft {version('redraft')}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    traceback: Annotated[bool, typer.Option(
        "--traceback", envvar="REDRAFT_TRACEBACK", help="Show the traceback of an error.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Debug logging on stderr, llama.cpp's log included.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    ctx.obj = {"traceback": traceback}
    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("redraft").setLevel(logging.DEBUG)


@app.command("run")
def run_command(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(
        metavar="FILE", show_default=False,
        help="Document to answer. Without it, every [[targets]] entry of the config.")] = None,
    task: TaskOpt = None,
    prompt: PromptOpt = None,
    question: QuestionOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the answer to this file (default: stdout).")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 if any output is stale.")] = False,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
    model: ModelOpt = None,
    max_tokens: MaxTokensOpt = None,
    rule: RuleOpt = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Answer FILE, or every configured target, reusing the previous answer.

    A target whose source, task, model and settings are unchanged is skipped without loading
    the model. Exit codes: 0 nothing changed, 1 an output was written (or is stale with
    --check), 2 usage/config/input error, 3 internal error, 130 interrupted.
    """
    with _boundary(ctx):
        from .config import load_config
        from .run_cmd import RunOptions, check_file_options, plan_jobs, run_jobs

        check_file_options(file, task=task, prompt=prompt, question=question, out=out)
        config = load_config(flags=_flags(
            task=task, prompt=prompt, question=question, model=model, max_tokens=max_tokens,
            rule=rule, n_ctx=n_ctx, threads=threads))
        jobs = plan_jobs(config, file, out)
        code = run_jobs(config, jobs, RunOptions(check=check, force=force, json=json_out))
    raise typer.Exit(code)


@app.command("watch")
def watch_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Files to watch.")],
    task: TaskOpt = None,
    prompt: PromptOpt = None,
    question: QuestionOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the current answer to this file after each answer.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="One JSON object per event on stdout; human output on stderr.")] = False,
    force: ForceOpt = False,
    model: ModelOpt = None,
    max_tokens: MaxTokensOpt = None,
    rule: RuleOpt = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    debounce_ms: Annotated[int | None, typer.Option(
        "--debounce-ms", help="Quiet time before answering a save (default 300).", min=1)] = None,
    max_events: Annotated[int | None, typer.Option(
        "--max-events", help="Stop after this many answers (for scripts, tests).", min=1)] = None,
) -> None:
    """Keep the model loaded and redraft the answer each time a file is saved.

    The first answer comes from the cache when the file is unchanged. Each save redrafts from
    the last complete answer, streaming it, then shows held text in green and rewritten text
    in bold yellow with a stats line. A save during a redraft cancels it. Ctrl-C exits 130.
    """
    with _boundary(ctx):
        from .config import load_config
        from .watch import WatchOptions, watch_command

        config = load_config(flags=_flags(
            task=task, prompt=prompt, question=question, model=model, max_tokens=max_tokens,
            rule=rule, n_ctx=n_ctx, threads=threads, debounce_ms=debounce_ms))
        opts = WatchOptions(out=out, json=json_out, force=force, max_events=max_events)
        code = watch_command(config, paths, opts)
    raise typer.Exit(code)


@app.command("config")
def config_command(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print the resolved settings and where each came from.

    Precedence: flags > a target's own keys > REDRAFT_* environment > redraft.toml >
    [tool.redraft] in pyproject.toml > defaults.
    """
    with _boundary(ctx):
        from .config import load_config
        from .config_cmd import show_config
        from .console import make_console

        show_config(load_config(), as_json=json_out, console=make_console(stderr=False))


def _project_cache() -> Any:
    from .cache import Cache
    from .config import load_config
    from .console import warn

    config = load_config()
    return Cache(config.cache_dir, max_size=config.settings.cache_max_size, warn=warn)


@cache_app.command("info")
def cache_info_command(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Where the cache is, what it holds and how big it is."""
    with _boundary(ctx):
        from .cache_cmd import cache_info
        from .console import make_console

        cache_info(_project_cache(), as_json=json_out, console=make_console(stderr=False))


@cache_app.command("clear")
def cache_clear_command(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option(
        "--all", help="Also forget which outputs redraft wrote (hand-edit protection then "
        "asks for --force), and remove other cache layouts.")] = False,
) -> None:
    """Delete cached answers and KV states; the next run answers afresh."""
    with _boundary(ctx):
        from .cache_cmd import cache_clear
        from .console import make_console

        cache_clear(_project_cache(), everything=everything, console=make_console(stderr=False))


def _register_bench() -> None:
    try:
        from redraft_cli.bench.command import register as register_bench
    except ModuleNotFoundError as exc:
        # The bench command is developed separately; the rest of the CLI works without it.
        if exc.name is None or not exc.name.startswith("redraft_cli.bench"):
            raise
        return
    register_bench(app)


_register_bench()


def run() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        print("redraft: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
