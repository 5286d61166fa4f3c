"""The `redraft` command line: run, watch, serve, config, cache (and bench, when installed).

Nothing here imports llama_cpp or the engine at import time: `redraft --help` and a `run`
whose targets are unchanged never load the model.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from .cli_options import (
    PATH,
    Group,
    engine_options,
    force_option,
    json_option,
    prompt_options,
)
from .errors import INTERRUPTED, USAGE, error_boundary


class OneLineErrors(Group):
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


def _boundary(ctx: click.Context, *, json_errors: bool = False) -> Any:
    return error_boundary(bool(ctx.obj and ctx.obj.get("traceback")), json_errors=json_errors)


@click.group("redraft", cls=OneLineErrors, no_args_is_help=True)
@click.option("--traceback", is_flag=True, envvar="REDRAFT_TRACEBACK", show_envvar=True,
              help="Show the traceback of an error.")
@click.option("--verbose", "-v", is_flag=True,
              help="Debug logging on stderr, llama.cpp's log included.")
@click.version_option(package_name="redraft", message="redraft %(version)s",
                      help="Print the version.")
@click.pass_context
def app(ctx: click.Context, traceback: bool, verbose: bool) -> None:
    """Incremental LLM answers: when a document changes, reuse the unchanged prompt's KV
    cache and replay the previous answer as a draft, so only what changed is re-decoded."""
    ctx.obj = {"traceback": traceback}
    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("redraft").setLevel(logging.DEBUG)


@app.group("cache", cls=Group, no_args_is_help=True)
def cache_app() -> None:
    """Inspect or empty the project's .redraft/ cache."""


@app.command("run")
# FILE: the document to answer; without it, every [[targets]] entry of the config.
@click.argument("file", type=PATH, required=False)
@prompt_options
@click.option("--out", "-o", type=PATH,
              help="Write the answer to this file (default: stdout).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any output is stale.")
@json_option()
@force_option
@engine_options()
@click.pass_context
def run_command(
    ctx: click.Context, file: Path | None, task: str | None, prompt: str | None,
    question: str | None, out: Path | None, check: bool, json_out: bool, force: bool,
    model: str | None, max_tokens: int | None, rule: str | None, prompt_reuse: str | None,
    n_ctx: int | None, threads: int | None, gpu_layers: str | None, flash_attn: str | None,
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
    raise click.exceptions.Exit(code)


@app.command("watch")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # files to watch
@prompt_options
@click.option("--out", "-o", type=PATH,
              help="Write the current answer to this file after each answer.")
@json_option("One JSON object per event on stdout; human output on stderr.")
@force_option
@engine_options()
@click.option("--debounce-ms", type=click.IntRange(min=1),
              help="Answer a save once the file has been quiet this long, in ms (default 50).")
@click.option("--max-events", type=click.IntRange(min=1),
              help="Stop after this many answers (for scripts, tests).")
@click.pass_context
def watch_cmd(
    ctx: click.Context, paths: tuple[Path, ...], task: str | None, prompt: str | None,
    question: str | None, out: Path | None, json_out: bool, force: bool, model: str | None,
    max_tokens: int | None, rule: str | None, prompt_reuse: str | None, n_ctx: int | None,
    threads: int | None, gpu_layers: str | None, flash_attn: str | None,
    debounce_ms: int | None, max_events: int | None,
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
        code = watch_command(config, list(paths), opts)
    raise click.exceptions.Exit(code)


@app.command("config")
@json_option()
@click.pass_context
def config_command(ctx: click.Context, json_out: bool) -> None:
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
@json_option()
@click.pass_context
def cache_info_command(ctx: click.Context, json_out: bool) -> None:
    """Where the cache is, what it holds and how big it is."""
    with _boundary(ctx, json_errors=json_out):
        from .cache import open_cache
        from .cache_cmd import cache_info
        from .config import load_config
        from .console import make_console

        cache_info(open_cache(load_config()), as_json=json_out,
                   console=make_console(stderr=False))


@cache_app.command("clear")
@click.option("--all", "everything", is_flag=True,
              help="Also remove other cache layouts, the records of outputs that no longer "
              "exist, and the per-machine calibration files in calibration_dir.")
@click.pass_context
def cache_clear_command(ctx: click.Context, everything: bool) -> None:
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
@click.option("--host", help="Address to listen on (default 127.0.0.1; another needs an API "
              "key: REDRAFT_API_KEY or api_key_sha256).")
@click.option("--port", type=click.IntRange(min=1, max=65535), help="TCP port (default 8080).")
@engine_options(prompt_reuse_help=(
    "exact (auto, the default): reuse the KV cache up to the first edited token; blend: also "
    "keep the unchanged text after an edit (approximate). A request may choose with "
    "redraft.prompt_reuse."))
@click.option("--queue-size", type=click.IntRange(min=1),
              help="Requests that may wait for the engine (default 8); more get 429.")
@click.option("--hash-key", is_flag=True, help="Read an API key from stdin, print its SHA-256 "
              "digest for api_key_sha256, and exit.")
@click.pass_context
def serve_cmd(
    ctx: click.Context, host: str | None, port: int | None, model: str | None,
    max_tokens: int | None, rule: str | None, prompt_reuse: str | None, n_ctx: int | None,
    threads: int | None, gpu_layers: str | None, flash_attn: str | None,
    queue_size: int | None, hash_key: bool,
) -> None:
    """Serve the model over HTTP: OpenAI's chat completions with Predicted Outputs answered
    by a redraft, document sessions, and a page racing a redraft against a fresh answer.

    SIGTERM or Ctrl-C cancels the answers in progress and exits 0. Exit codes: 2 usage or
    config error (a port in use, another host than loopback without an API key).
    """
    with _boundary(ctx):
        from .serve.command import key_digest, serve_command

        if hash_key:
            click.echo(key_digest())
            raise click.exceptions.Exit(0)
        from .config import load_config

        config = load_config(flags=dict(
            host=host, port=port, model=model, max_tokens=max_tokens, rule=rule,
            prompt_reuse=prompt_reuse, n_ctx=n_ctx, threads=threads,
            gpu_layers=gpu_layers,
            flash_attn=flash_attn, queue_size=queue_size))
        code = serve_command(config)
    raise click.exceptions.Exit(code)


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
