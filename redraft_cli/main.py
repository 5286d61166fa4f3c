"""The `redraft` command line: run, watch, serve, config, cache (and bench, when installed).

Nothing here imports llama_cpp or the engine at import time: `redraft --help` and a `run`
whose targets are unchanged never load the model.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from redraft_engine import DEFAULT_MAX_TOKENS, DEFAULT_N_CTX, RULE_NAMES
from typer.core import TyperGroup

from .config import MIN_N_CTX, PROMPT_REUSE_CHOICES
from .errors import INTERRUPTED, USAGE, error_boundary


class OneLineErrors(TyperGroup):
    """Usage errors as one line (`redraft: error: ...`, exit 2) instead of a usage block, and
    as a JSON error object on stdout too when `--json` was asked for."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone_mode = kwargs.pop("standalone_mode", True)
        argv = list(kwargs.get("args") or (args[0] if args else sys.argv[1:]))
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except (click.UsageError, click.ClickException) as exc:
            ctx = getattr(exc, "ctx", None)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            message = " ".join(exc.format_message().split())
            print(f"redraft: error: {message}{where}", file=sys.stderr)
            code = USAGE
            if "--json" in argv:
                from .json_out import emit

                emit({"error": message, "exit_code": code})
        except (click.Abort, KeyboardInterrupt):
            print("redraft: interrupted", file=sys.stderr)
            code = INTERRUPTED
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=OneLineErrors,
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
    "--max-tokens", help=f"Longest answer, in tokens (default {DEFAULT_MAX_TOKENS}).", min=1)]
RuleOpt = Annotated[str | None, typer.Option(
    "--rule", click_type=click.Choice(RULE_NAMES),
    help=f"Acceptance rule of a redraft (default {RULE_NAMES[0]}).")]
PromptReuseOpt = Annotated[str | None, typer.Option(
    "--prompt-reuse", click_type=click.Choice(PROMPT_REUSE_CHOICES),
    help="exact: reuse the KV cache up to the first edited token; blend: also keep the "
    "unchanged text after an edit, shifted (faster, approximate); auto (default): blend in "
    "watch, which confirms each answer over an exact prefill when idle, exact in run.")]
NCtxOpt = Annotated[int | None, typer.Option(
    "--n-ctx", help=f"Context window in tokens (default {DEFAULT_N_CTX}).", min=MIN_N_CTX)]
ThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", help="CPU threads (default: all cores).", min=1)]
GpuLayersOpt = Annotated[str | None, typer.Option(
    "--gpu-layers", metavar="N|all|auto",
    help="Model layers offloaded to a GPU (default auto: all where the installed llama.cpp "
    "has a GPU backend, else 0).")]
FlashAttnOpt = Annotated[str | None, typer.Option(
    "--flash-attn", click_type=click.Choice(("auto", "on", "off")),
    help="Flash attention (default auto: llama.cpp decides per backend).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Overwrite an output file even if it was edited by hand.")]


def _boundary(ctx: typer.Context, *, json_errors: bool = False) -> Any:
    return error_boundary(bool(ctx.obj and ctx.obj.get("traceback")), json_errors=json_errors)


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
    prompt_reuse: PromptReuseOpt = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    flash_attn: FlashAttnOpt = None,
) -> None:
    """Answer FILE, or every configured target, reusing the previous answer.

    A target whose source, task, model and settings are unchanged is skipped without loading
    the model. Exit codes: 0 every output written or already current, 1 with --check: an
    output is stale, 2 usage/config/input error, 3 internal error, 130 interrupted.
    """
    with _boundary(ctx, json_errors=json_out):
        from .config import load_config
        from .engine_access import Models
        from .run_cmd import RunOptions, check_file_options, plan_jobs, run_jobs

        check_file_options(file, task=task, prompt=prompt, question=question, out=out)
        config = load_config(flags=dict(
            task=task, prompt=prompt, question=question, model=model, max_tokens=max_tokens,
            rule=rule, prompt_reuse=prompt_reuse, n_ctx=n_ctx, threads=threads,
            gpu_layers=gpu_layers,
            flash_attn=flash_attn))
        jobs = plan_jobs(config, Models(), file, out)
        code = run_jobs(config, jobs, RunOptions(check=check, force=force, json=json_out))
    raise typer.Exit(code)


@app.command("watch")
def watch_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH...", exists=True, dir_okay=False, help="Files to watch.")],
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
    prompt_reuse: PromptReuseOpt = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    flash_attn: FlashAttnOpt = None,
    debounce_ms: Annotated[int | None, typer.Option(
        "--debounce-ms", min=1,
        help="Answer a save once the file has been quiet this long, in ms (default 50).")] = None,
    max_events: Annotated[int | None, typer.Option(
        "--max-events", help="Stop after this many answers (for scripts, tests).", min=1)] = None,
) -> None:
    """Keep the model loaded and redraft the answer each time a file is saved.

    The first answer comes from the cache when the file is unchanged. Each save redrafts from
    the last complete answer, streaming it, then shows held text in green and rewritten text
    in bold yellow with a stats line. By default (--prompt-reuse auto) it answers over a
    blended prompt, then, when idle, confirms the answer over an exact prefill. A save during
    a redraft or a confirmation cancels it. Ctrl-C exits 130.
    """
    with _boundary(ctx, json_errors=json_out):
        from .config import load_config
        from .watch import WatchOptions, watch_command

        config = load_config(flags=dict(
            task=task, prompt=prompt, question=question, model=model, max_tokens=max_tokens,
            rule=rule, prompt_reuse=prompt_reuse, n_ctx=n_ctx, threads=threads,
            gpu_layers=gpu_layers,
            flash_attn=flash_attn,
            debounce_ms=debounce_ms))
        opts = WatchOptions(out=out, json=json_out, force=force, max_events=max_events)
        code = watch_command(config, paths, opts)
    raise typer.Exit(code)


@app.command("config")
def config_command(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print the resolved settings and where each came from.

    Precedence: flags > a target's own keys > REDRAFT_* environment > redraft.toml >
    [tool.redraft] in pyproject.toml > defaults.
    """
    with _boundary(ctx, json_errors=json_out):
        from .config import load_config
        from .config_cmd import show_config
        from .console import make_console

        show_config(load_config(), as_json=json_out, console=make_console(stderr=False))


@cache_app.command("info")
def cache_info_command(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Where the cache is, what it holds and how big it is."""
    with _boundary(ctx, json_errors=json_out):
        from .cache import open_cache
        from .cache_cmd import cache_info
        from .config import load_config
        from .console import make_console

        cache_info(open_cache(load_config()), as_json=json_out,
                   console=make_console(stderr=False))


@cache_app.command("clear")
def cache_clear_command(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option(
        "--all", help="Also remove other cache layouts, the records of outputs that no "
        "longer exist, and the per-machine calibration files in calibration_dir.")] = False,
) -> None:
    """Delete cached answers and KV states; the next run answers afresh.

    What redraft wrote to existing outputs is remembered, so hand-edit protection goes on.
    """
    with _boundary(ctx):
        from .cache import open_cache
        from .cache_cmd import cache_clear
        from .config import load_config
        from .console import make_console

        config = load_config()
        cache_clear(open_cache(config), everything=everything,
                    calibration_dir=Path(config.settings.calibration_dir),
                    console=make_console(stderr=False))


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to listen on (default 127.0.0.1; another needs an API key: "
        "REDRAFT_API_KEY or api_key_sha256).")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="TCP port (default 8080).", min=1, max=65535)] = None,
    model: ModelOpt = None,
    max_tokens: MaxTokensOpt = None,
    rule: RuleOpt = None,
    prompt_reuse: Annotated[str | None, typer.Option(
        "--prompt-reuse", click_type=click.Choice(PROMPT_REUSE_CHOICES),
        help="exact (auto, the default): reuse the KV cache up to the first edited token; "
        "blend: also keep the unchanged text after an edit (approximate). A request may "
        "choose with redraft.prompt_reuse.")] = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    flash_attn: FlashAttnOpt = None,
    queue_size: Annotated[int | None, typer.Option(
        "--queue-size", help="Requests that may wait for the engine (default 8); more get "
        "429.", min=1)] = None,
    hash_key: Annotated[bool, typer.Option(
        "--hash-key", help="Read an API key from stdin, print its SHA-256 digest for "
        "api_key_sha256, and exit.")] = False,
) -> None:
    """Serve the model over HTTP: OpenAI's chat completions with Predicted Outputs answered
    by a redraft, document sessions, and a page racing a redraft against a fresh answer.

    SIGTERM or Ctrl-C cancels the answers in progress and exits 0. Exit codes: 2 usage or
    config error (a port in use, another host than loopback without an API key).
    """
    with _boundary(ctx):
        from .serve.command import key_digest, serve_command

        if hash_key:
            typer.echo(key_digest())
            raise typer.Exit(0)
        from .config import load_config

        config = load_config(flags=dict(
            host=host, port=port, model=model, max_tokens=max_tokens, rule=rule,
            prompt_reuse=prompt_reuse, n_ctx=n_ctx, threads=threads,
            gpu_layers=gpu_layers,
            flash_attn=flash_attn, queue_size=queue_size))
        code = serve_command(config)
    raise typer.Exit(code)


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
    app()
