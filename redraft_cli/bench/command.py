"""The `redraft bench` command: wiring of options, loading, running, reporting, exit code.

Imports stay light here (the main app registers this command at import time); the engine,
rapidfuzz and matplotlib load only when the command runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from redraft_cli.cli_options import (
    PATH,
    Command,
    flash_attn_option,
    gpu_layers_option,
    max_tokens_option,
    model_option,
    threads_option,
)
from redraft_cli.errors import CliError, error_boundary

DEFAULT_REPEAT = 3


def register(app: click.Group) -> None:
    """Add the `bench` command to `app`."""
    app.add_command(bench)


@click.command("bench", cls=Command)
# DIR: a folder of *.json case files (or one such file).
@click.argument("directory", metavar="DIR", type=PATH)
@model_option
@click.option("--repeat", "-r", type=click.IntRange(min=1), default=DEFAULT_REPEAT,
              show_default=True, help="Runs of every arm per case; times are medians.")
@click.option("--filter", "-k", "filter_globs", multiple=True,
              help="Only cases whose id or category matches this glob (repeat the option to "
              "allow several).")
@click.option("--json", "json_path", type=PATH,
              help="Write every measurement and the summary to this JSON file.")
@click.option("--plot", "plot_path", type=PATH,
              help="Plot speedup against held fraction to this .png or .svg (needs "
              "redraft[plot]).")
@max_tokens_option("Longest answer, in tokens (default: as the config sets it).")
@threads_option
@gpu_layers_option
@flash_attn_option
@click.pass_context
def bench(
    ctx: click.Context, directory: Path, model: str | None, repeat: int,
    filter_globs: tuple[str, ...], json_path: Path | None, plot_path: Path | None,
    max_tokens: int | None, threads: int | None, gpu_layers: str | None,
    flash_attn: str | None,
) -> None:
    """Benchmark redraft on an edit suite: speed against fresh and cold runs, and regressions.

    Per case, the old answer is generated on `before`; then on `after` the arms cold (empty
    KV cache), fresh (warm prefix reuse), exact and tolerant (redrafts) and blend (tolerant
    over a blended prompt: the KV past the edit kept, shifted) run REPEAT times each, in
    rotating order. Exit codes: 0 no attributable regression in an arm that the configuration
    uses (exact, tolerant, and blend where prompt_reuse is blend), 1 at least one, 2 bad input,
    130 interrupted. Regressions of the blend arm are always reported. Ctrl-C stops after the
    cases already finished and still prints (and writes) their summary.
    """
    show_traceback = bool(ctx.obj and ctx.obj.get("traceback"))
    with error_boundary(show_traceback):
        code = run_bench(
            directory, model=model, repeat=repeat, filters=tuple(filter_globs),
            json_path=json_path, plot_path=plot_path, max_tokens=max_tokens, threads=threads,
            gpu_layers=gpu_layers, flash_attn=flash_attn,
        )
    raise click.exceptions.Exit(code)


def run_bench(
    directory: Path,
    *,
    model: str | None,
    repeat: int,
    filters: tuple[str, ...],
    json_path: Path | None,
    plot_path: Path | None,
    max_tokens: int | None,
    threads: int | None,
    gpu_layers: str | None = None,
    flash_attn: str | None = None,
) -> int:
    from rich.console import Console

    from redraft_cli.config import load_config
    from redraft_cli.config_values import FINAL_PROMPT_REUSE
    from redraft_cli.engine_access import Models, engine_json, load_engine

    from .cases import load_suite
    from .plot import check_plot_target

    if plot_path is not None:
        check_plot_target(plot_path)
    if json_path is not None and not json_path.parent.is_dir():
        raise CliError(f"--json {json_path}: folder {json_path.parent} does not exist")
    cases = load_suite(directory, filters)
    # OMP_WAIT_POLICY is left as the user has it (and recorded in the JSON): PASSIVE waiting
    # made one-token decodes 3-4x slower here, which would flatter redraft against fresh.
    flags = dict(model=model, max_tokens=max_tokens, threads=threads, gpu_layers=gpu_layers,
                 flash_attn=flash_attn)
    settings = load_config(flags=flags).settings.with_prompt_reuse(FINAL_PROMPT_REUSE)
    engine = load_engine(settings, Models().identify(settings))
    _check_lengths(engine, cases)

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, 140)  # a log file should keep a table row on one line
    started = time.perf_counter()
    results, interrupted = _run_all(engine, cases, repeat, out)
    wall = time.perf_counter() - started
    if interrupted and not results:
        raise KeyboardInterrupt
    run_settings = {"dir": str(directory), "repeat": repeat, "filter": list(filters),
                    "max_tokens": settings.max_tokens, "threads": settings.threads,
                    **engine_json(engine),
                    "n_ctx": engine.n_ctx, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                    "noise": engine.noise,
                    "start_probation": engine.start_probation,
                    "prompt_reuse": settings.prompt_reuse, "blend": blend_settings(),
                    "cases_run": len(results), "cases_selected": len(cases)}
    if interrupted:
        out.print(f"interrupted: the summary covers the {len(results)} of {len(cases)} cases "
                  "that finished")
    _report(out, engine, results, run_settings, wall, json_path, plot_path)
    if interrupted:
        raise KeyboardInterrupt
    gated = gated_arms(settings.prompt_reuse)
    return 1 if any(set(r.regression_arms) & gated for r in results) else 0


def blend_settings() -> dict[str, float]:
    from redraft_engine import defaults

    return {"bridge": defaults.BLEND_BRIDGE, "tail": defaults.BLEND_TAIL,
            "min_keep": defaults.BLEND_MIN_KEEP, "drift_budget": defaults.BLEND_DRIFT_BUDGET}


def gated_arms(prompt_reuse: str) -> set[str]:
    """The redraft arms whose regressions fail the bench: those the configuration uses."""
    return {"exact", "tolerant"} | ({"blend"} if prompt_reuse == "blend" else set())


def _report(
    out: Any, engine: Any, results: list, run_settings: dict[str, Any], wall: float,
    json_path: Path | None, plot_path: Path | None,
) -> None:
    """The summary tables, and the JSON document and plot when asked for."""
    from .export import document, machine_info, machine_line, write_json
    from .plot import write_plot
    from .report import departure_table, print_summary
    from .results import summarize

    summary = summarize(results, engine.noise)
    machine = machine_info()
    model_info = {"name": engine.model_path.name, "path": str(engine.model_path),
                  "description": engine.model.description, "fingerprint": engine.fingerprint}
    footer = (
        f"{len(results)} cases × {run_settings['repeat']} repeats, max "
        f"{run_settings['max_tokens']} tokens, model {model_info['name']} "
        f"({model_info['description']}) on {engine.backend} ({engine.gpu_layers} of "
        f"{engine.n_layers} layers offloaded), {machine_line(machine)}; "
        f"bench wall time {wall / 60:.1f} min; near-tie noise {engine.noise:.2f} logits "
        f"(measured), opening {engine.start_probation} tokens. Ratios are baseline time / "
        "arm time: 'fresh' reuses the KV prefix of the old prompt, 'cold' starts from an "
        "empty cache."
    )
    regressed = departure_table(results, engine.noise)
    print_summary(out, summary, footer, [] if regressed is None else [regressed])
    if json_path is not None:
        write_json(json_path, document(model=model_info, machine=machine, settings=run_settings,
                                       results=results, summary=summary, wall_s=wall))
    if plot_path is not None:
        write_plot(plot_path, results, title=f"{model_info['name']}, {len(results)} cases")


def _check_lengths(engine: Any, cases: list) -> None:
    """Fail on a prompt over the context before spending minutes on the cases ahead of it."""
    from .cases import CaseFileError

    for case in cases:
        for field in ("before", "after"):
            n = len(engine.prompt_tokens(case.prompt(getattr(case, field))))
            if n >= engine.n_ctx - 1:
                raise CaseFileError(
                    f"{case.source}: case {case.id!r}: field {field!r}: the prompt is {n} "
                    f"tokens, over the model's context of {engine.n_ctx}"
                )


def _run_all(engine: Any, cases: list, repeat: int, out: Any) -> tuple[list, bool]:
    """Every case's result, and whether Ctrl-C cut the run short (the case under way is
    dropped; the finished ones are kept, also when the key lands while one is being reported)."""
    from .arms import ARMS, run_case
    from .progress import BenchProgress
    from .report import case_table
    from .results import case_result

    results: list = []
    with BenchProgress(len(cases), 1 + repeat * len(ARMS)) as progress:
        for index, case in enumerate(cases):
            try:
                progress.start_case(case.id)
                run = run_case(engine, case, repeat, on_step=progress.step, rotation=index)
                result = case_result(run)
                results.append(result)
                out.print(case_table(result))
                speed = result.speedup("tolerant", "fresh")
                flag = " REGRESSION" if result.regression else ""
                progress.end_case(f"tolerant {speed:.2f}× vs fresh{flag}" if speed else flag)
            except KeyboardInterrupt:
                return results, True
    return results, False
