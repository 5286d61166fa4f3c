"""One-line errors and exit codes for every input, usage and config error (no model loaded)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.cli_env import interrupted

from redraft_cli import engine_access
from redraft_cli.cache import Cache
from redraft_cli.main import app

runner = CliRunner()


@pytest.fixture
def project_files():
    return {"doc.md": "The meeting is on Monday at noon in room 4.\n"}


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if anything tries to load the model."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(engine_access, "load_engine", refuse)


def invoke(*args):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.stderr
    return result


def one_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "missing.md: no such file"),
        (lambda p: (p / "missing.md").mkdir(), "is a directory"),
        (lambda p: (p / "missing.md").write_bytes(b"\x7fELF\x00\x01\x02"), "binary"),
        (lambda p: (p / "missing.md").write_bytes(b"caf\xe9 au lait"), "not UTF-8"),
        (lambda p: (p / "missing.md").write_text(" \n\n"), "is empty"),
    ],
    ids=["missing", "directory", "binary", "not-utf8", "empty"],
)
def test_bad_input_file(project, no_model, setup, message):
    setup(project)
    result = invoke("run", "missing.md")
    assert result.exit_code == 2
    assert message in one_line(result)
    assert one_line(result).startswith("redraft: error: ")


def test_missing_model(project, no_model):
    result = invoke("run", "doc.md", "--model", "nowhere.gguf")
    assert result.exit_code == 2
    assert "model file not found" in one_line(result)


def test_invalid_model(project, no_model):
    (project / "fake.gguf").write_bytes(b"not a model at all")
    result = invoke("run", "doc.md", "--model", "fake.gguf")
    assert result.exit_code == 2
    assert "not a GGUF model file" in one_line(result)


def test_missing_model_from_environment(project, no_model, monkeypatch):
    monkeypatch.setenv("REDRAFT_MODEL", str(project / "gone.gguf"))
    result = invoke("run", "doc.md")
    assert result.exit_code == 2 and "gone.gguf" in one_line(result)


@pytest.mark.parametrize(
    "out, message",
    [("no/such/folder/out.md", "does not exist"), ("adir", "is a directory")],
)
def test_unwritable_output(project, no_model, out, message):
    (project / "adir").mkdir()
    result = invoke("run", "doc.md", "--out", out)
    assert result.exit_code == 2
    assert "cannot write output" in one_line(result) and message in one_line(result)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "doc.md", "--task", "poem"], "unknown task 'poem'"),
        (["run", "doc.md", "--task", "answer"], "needs a question"),
        (["run", "doc.md", "--prompt", "no placeholder"], "{document}"),
        (["run", "--task", "review"], "--task needs a FILE"),
        (["run"], "no FILE given and no [[targets]]"),
        (["run", "doc.md", "--rule", "loose"], "'--rule': 'loose' is not one of"),
        (["watch", "doc.md", "doc.md", "--out", "x.md"], "--out needs exactly one"),
        (["watch", "nothere.md"], "'nothere.md' does not exist"),
        (["run", "doc.md", "--out", "doc.md", "--force"], "is the document itself"),
        (["watch", "doc.md", "--out", "./doc.md"], "is the document itself"),
    ],
)
def test_usage_errors(project, no_model, args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in one_line(result)


def test_malformed_config_is_named(project, no_model):
    (project / "redraft.toml").write_text("[[targets]]\nsource = 'doc.md'\noutput = 3\n")
    result = invoke("run")
    assert result.exit_code == 2
    assert "targets[0]" in one_line(result) and "'output'" in one_line(result)


def test_a_file_redraft_did_not_write_is_refused(project, model_loads):
    (project / "out.md").write_text("someone else's file\n")
    model_loads.forbid()
    result = runner.invoke(app, ["run", "doc.md", "--out", "out.md"])
    assert result.exit_code == 2
    assert "out.md exists and redraft has no record of writing it" in result.stderr
    assert "pass --force to replace it" in result.stderr


def test_click_usage_error_exits_2(project):
    assert runner.invoke(app, ["run", "--no-such-flag"]).exit_code == 2


def test_internal_error_is_one_line_with_exit_3(project, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("llama exploded")

    monkeypatch.setattr(engine_access, "load_engine", boom)
    result = invoke("run", "doc.md")
    assert result.exit_code == 3
    assert one_line(result) == (
        "redraft: internal error: RuntimeError: llama exploded (rerun with --traceback)"
    )
    shown = runner.invoke(app, ["--traceback", "run", "doc.md"])
    assert shown.exit_code == 3
    assert "Traceback (most recent call last)" in shown.stderr
    assert "RuntimeError: llama exploded" in shown.stderr


def test_interrupt_exits_130_without_partial_output(project, monkeypatch):
    monkeypatch.setattr(engine_access, "load_engine", interrupted)
    result = invoke("run", "doc.md", "--out", "out.md")
    assert result.exit_code == 130
    assert one_line(result) == "redraft: interrupted"
    assert sorted(p.name for p in project.iterdir() if not p.name.startswith(".redraft")) == [
        "doc.md"
    ]


def test_help_is_cheap_and_never_imports_llama_cpp():
    code = (
        "import sys, redraft_cli.main\n"
        "print(*(m in sys.modules for m in ('llama_cpp', 'numpy', 'rich', 'pydantic')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * 4
    help_out = subprocess.run(
        [sys.executable, "-m", "redraft_cli", "--help"], capture_output=True, text=True
    )
    assert help_out.returncode == 0
    for command in ("run", "watch", "config", "cache"):
        assert command in help_out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "doc.md", "--max-tokens", "0"], "'--max-tokens': 0 is not in the range x>=1"),
        (["run", "doc.md", "--n-ctx", "100"], "'--n-ctx': 100 is not in the range x>=256"),
        (["run", "doc.md", "--colour"], "No such option '--colour'"),
    ],
)
def test_option_errors_are_one_line(project, no_model, args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in one_line(result)
    assert one_line(result).startswith("redraft: error: ")


def test_json_mode_prints_a_json_error_on_exit_2(project, no_model):
    (project / "redraft.toml").write_text("max_tokens = 'many'\n")
    result = invoke("run", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 2 and "max_tokens" in doc["error"]


def test_json_mode_prints_a_json_error_on_exit_3(project, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(engine_access, "load_engine", broken)
    result = invoke("run", "doc.md", "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 3 and "the engine fell over" in doc["error"]
    assert doc["error"].startswith("internal error: RuntimeError")


COMMANDS = {"run": ["run", "doc.md"], "watch": ["watch", "doc.md", "--max-events", "1"]}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_cache_folder_that_cannot_be_made_stops_run_and_watch_alike(project, no_model,
                                                                      command):
    (project / "notes").write_text("a file where the cache's parent folder should be\n")
    (project / "redraft.toml").write_text('cache_dir = "notes/cache"\n')
    result = invoke(*COMMANDS[command])  # without the check, watch answers (loads the model)
    assert result.exit_code == 2
    assert one_line(result).startswith(f"redraft: error: cache path {project / 'notes'}")


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """Makes the working directory a read-only view of itself (a read-only bind mount)."""
    mounted = []

    def mount(*args: str) -> None:
        made = subprocess.run(["mount", *args], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot mount read-only here ({made.stderr.strip() or 'not root'})")

    def view(folder: Path) -> None:
        ro = tmp_path.parent / f"{tmp_path.name}-read-only"
        ro.mkdir()
        mount("--bind", str(folder), str(ro))
        mounted.append(ro)
        mount("-o", "remount,bind,ro", str(ro))
        monkeypatch.chdir(ro)

    yield view
    monkeypatch.undo()  # leave the mount before unmounting it
    for ro in mounted:
        subprocess.run(["umount", str(ro)], capture_output=True)


@pytest.mark.parametrize("cached", [False, True], ids=["no-cache-yet", "cache-made-before"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_project_stops_run_and_watch_alike(project, no_model, read_only, command,
                                                       cached):
    if cached:
        Cache(project / ".redraft", max_size=1 << 30, warn=print).ensure()
    read_only(project)
    result = invoke(*COMMANDS[command])  # without the check, watch answers (loads the model)
    assert result.exit_code == 2
    assert "Read-only file system" in one_line(result)
    if not cached:
        assert one_line(result).endswith(
            "make it writable, or set cache_dir (REDRAFT_CACHE_DIR) to a writable folder")
