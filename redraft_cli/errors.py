"""Exit codes, the CLI's own error type, and the boundary that turns exceptions into one line."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from click.exceptions import Abort, Exit

from .json_out import emit

OK = 0
CHANGED = 1
USAGE = 2
INTERNAL = 3
INTERRUPTED = 130


class CliError(Exception):
    """An error the user can act on: printed as one line, exits with `exit_code`."""

    exit_code = USAGE

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(CliError):
    """A source document that cannot be answered (missing, binary, empty, ...)."""


class ConfigError(CliError):
    """A malformed config file, environment variable or option value."""


class HandEditError(CliError):
    """An output file that redraft did not write as it is now."""


class LockTimeout(CliError):
    """Another process kept a target's lock for longer than the timeout."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an exception that reached the boundary."""
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    from redraft_cli.tasks import TaskError

    if isinstance(exc, TaskError):
        return USAGE
    from redraft_engine import (
        EngineBuildError,
        InvalidModelError,
        ModelNotFoundError,
        PromptTooLongError,
    )

    if isinstance(exc, (ModelNotFoundError, InvalidModelError, PromptTooLongError,
                        EngineBuildError)):
        return USAGE
    return INTERNAL


def one_line(exc: BaseException) -> str:
    """The message printed for `exc` (without the `redraft:` prefix)."""
    code = exit_code_for(exc)
    if code == INTERRUPTED:
        return "interrupted"
    message = " ".join(str(exc).split()) or type(exc).__name__
    if code == INTERNAL:
        return f"internal error: {type(exc).__name__}: {message} (rerun with --traceback)"
    return f"error: {message}"


def print_error(exc: BaseException, console: Any = None) -> None:
    """The one way an error reaches the user: `redraft: error: ...` on one line (stderr, or
    `console` in red when a Rich console owns the screen)."""
    line = f"redraft: {one_line(exc)}"
    if console is not None:
        console.print(line, style="red", markup=False)
    else:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def error_boundary(show_traceback: bool, *, json_errors: bool = False) -> Iterator[None]:
    """Turn any exception into a one-line message and the matching exit code.

    With `json_errors`, stdout also receives one JSON object naming the error, so a script
    reading `--json` output always gets a document.
    """
    try:
        yield
    except (Exit, Abort):
        raise
    except BrokenPipeError:
        # The reader of stdout went away (`redraft run f | head`): nothing left to tell it.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes it at exit
        except OSError:
            pass
        raise Exit(OK) from None
    except BaseException as exc:  # noqa: BLE001 - this is the top-level boundary
        if isinstance(exc, SystemExit):
            raise
        if show_traceback and not isinstance(exc, KeyboardInterrupt):
            traceback.print_exception(exc, file=sys.stderr)
        print_error(exc)
        if json_errors:
            emit(error_document(exc))
        raise Exit(exit_code_for(exc)) from None


def error_document(exc: BaseException) -> dict[str, Any]:
    """What `--json` prints when a command ends on an error (exit codes 2, 3 and 130)."""
    return {"error": one_line(exc).removeprefix("error: "), "exit_code": exit_code_for(exc)}
