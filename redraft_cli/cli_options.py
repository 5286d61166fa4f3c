"""Click building blocks of the `redraft` commands: the command and group classes (help laid
out with an Arguments section, commands listed in the order they were added) and the options
that run, watch, serve and bench share, each defined once as a decorator.

Imports stay light: the main app imports this module for `redraft --help`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from redraft_engine import DEFAULT_MAX_TOKENS, DEFAULT_N_CTX, FLASH_ATTN, RULE_NAMES

from .config_values import MIN_N_CTX, PROMPT_REUSE_CHOICES

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

PATH = click.Path(path_type=Path)


class Command(click.Command):
    """A command whose help lists its arguments (metavar, and whether required) before the
    options."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments = [(param.make_metavar(ctx), "[required]" if param.required else "")
                     for param in self.get_params(ctx) if isinstance(param, click.Argument)]
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        super().format_options(ctx, formatter)


class Group(click.Group):
    """A group whose help lists its commands in the order they were added, subgroups last
    (Click sorts them by name)."""

    command_class = Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands, key=lambda name: isinstance(self.commands[name], click.Group))


def options(*decorators: Callable[[Any], Any]) -> Decorator[Any]:
    """Several option decorators as one, listed in help in the order given."""

    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


# --- options shared by run, watch, serve and bench -------------------------------------------
task_option = click.option(
    "--task", "-t", help="Task: summarize, review, answer, or a name from [tasks] in config.")
prompt_option = click.option(
    "--prompt", "-p", help="Custom prompt template; must contain {document}.")
question_option = click.option(
    "--question", "-q", help="The question, for the 'answer' task.")
model_option = click.option(
    "--model", "-m", help="GGUF model file (default: $REDRAFT_MODEL, else the bundled "
    "SmolLM2-135M-Instruct).")
rule_option = click.option(
    "--rule", type=click.Choice(RULE_NAMES),
    help=f"Acceptance rule of a redraft (default {RULE_NAMES[0]}).")
n_ctx_option = click.option(
    "--n-ctx", type=click.IntRange(min=MIN_N_CTX),
    help=f"Context window in tokens (default {DEFAULT_N_CTX}).")
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), help="CPU threads (default: all cores).")
gpu_layers_option = click.option(
    "--gpu-layers", metavar="N|all|auto",
    help="Model layers offloaded to a GPU (default auto: all where the installed llama.cpp "
    "has a GPU backend, else 0).")
flash_attn_option = click.option(
    "--flash-attn", type=click.Choice(tuple(FLASH_ATTN)),
    help="Flash attention (default auto: llama.cpp decides per backend).")
force_option = click.option(
    "--force", is_flag=True, help="Overwrite an output file even if it was edited by hand.")

PROMPT_REUSE_HELP = (
    "exact: reuse the KV cache up to the first edited token; blend: also keep the unchanged "
    "text after an edit, shifted (faster, approximate); auto (default): blend in watch, which "
    "confirms each answer over an exact prefill when idle, exact in run.")


def max_tokens_option(
    help: str = f"Longest answer, in tokens (default {DEFAULT_MAX_TOKENS}).",
) -> Decorator[Any]:
    return click.option("--max-tokens", type=click.IntRange(min=1), help=help)


def prompt_reuse_option(help: str = PROMPT_REUSE_HELP) -> Decorator[Any]:
    return click.option("--prompt-reuse", type=click.Choice(PROMPT_REUSE_CHOICES), help=help)


def json_option(help: str = "Machine-readable output on stdout.") -> Decorator[Any]:
    return click.option("--json", "json_out", is_flag=True, help=help)


prompt_options = options(task_option, prompt_option, question_option)


def engine_options(prompt_reuse_help: str = PROMPT_REUSE_HELP) -> Decorator[Any]:
    """--model to --flash-attn, as run, watch and serve list them."""
    return options(model_option, max_tokens_option(), rule_option,
                   prompt_reuse_option(prompt_reuse_help), n_ctx_option, threads_option,
                   gpu_layers_option, flash_attn_option)
