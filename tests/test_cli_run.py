"""`redraft run` with the real default model: fresh, unchanged, redraft, hand edits, targets."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.cli_env import (
    interrupted,
    isolate_env,
    lock_held_elsewhere,
    without_redraft_vars,
)

from redraft_cli.cache import open_cache
from redraft_cli.config import load_config
from redraft_cli.engine_access import Models
from redraft_cli.jobs import job_for_file
from redraft_cli.main import app

pytestmark = pytest.mark.model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DOC = (
    "Project status. The team shipped the login page on Monday. Anna fixed two bugs in the "
    "payment form. The next review meeting is on Thursday at 10am in room 12.\n"
)
# Small answers and one thread keep the model's share of the suite short and stable on 2 cores.
ENV = {"REDRAFT_MAX_TOKENS": "24"}

runner = CliRunner()


@pytest.fixture
def project_env():
    return ENV


@pytest.fixture
def project_files():
    return {"doc.md": DOC}


def invoke(*args):
    return runner.invoke(app, list(args))


def run_subprocess(cwd, *args):
    env = without_redraft_vars(ENV)
    return subprocess.run(
        [sys.executable, "-m", "redraft_cli", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=300,
    )


def test_fresh_unchanged_redraft_and_state_reuse_across_processes(project, model_loads):
    first = invoke("run", "doc.md", "--out", "out.md", "--json")
    assert first.exit_code == 0, first.stderr  # written: success, as formatters exit
    doc = json.loads(first.stdout)
    assert doc["exit_code"] == 0
    report = doc["targets"][0]
    assert report["mode"] == "fresh" and report["stats"]["emitted"] > 0
    assert (report["source"], report["output"]) == ("doc.md", "out.md")  # one form for both
    written = (project / "out.md").read_text()
    assert written.strip() and written.endswith("\n")
    assert model_loads.count() == 1

    model_loads.forbid()
    again = invoke("run", "doc.md", "--out", "out.md", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["targets"][0]["mode"] == "unchanged"
    to_stdout = invoke("run", "doc.md")  # same source, task and settings: same cache entry
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout == written
    assert "doc.md: unchanged" in to_stdout.stderr

    (project / "doc.md").write_text(DOC.replace("room 12", "room 14"))
    check = invoke("run", "doc.md", "--out", "out.md", "--check")
    assert check.exit_code == 1 and "stale" in check.stderr  # only --check exits 1
    assert (project / "out.md").read_text() == written

    # A new process: its engine starts empty, so reused prompt tokens come from the saved state.
    second = run_subprocess(project, "run", "doc.md", "--out", "out.md", "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)["targets"][0]
    assert report["mode"] == "redraft"
    assert report["stats"]["prompt_reused"] > 0
    assert report["stats"]["held"] > 0
    assert report["stats"]["held"] > 0
    assert report["stats"]["prompt_recomputed"] < report["stats"]["prompt_tokens"]


def test_unchanged_run_never_imports_llama_cpp(project):
    assert run_subprocess(project, "run", "doc.md", "--out", "out.md").returncode == 0
    probe = (
        "import sys\n"
        "from redraft_cli.main import app\n"
        "try:\n"
        "    app(['run', 'doc.md', '--out', 'out.md'])\n"
        "except SystemExit as e:\n"
        "    print(e.code, 'llama_cpp' in sys.modules)\n"
    )
    env = without_redraft_vars(ENV)
    out = subprocess.run([sys.executable, "-c", probe], cwd=project, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["0", "False"], out.stderr
    assert "unchanged" in out.stderr


def test_hand_edited_output_is_refused_unless_forced(project, model_loads):
    assert invoke("run", "doc.md", "--out", "out.md").exit_code == 0
    answer = (project / "out.md").read_text()
    (project / "out.md").write_text(answer + "My own note.\n")

    model_loads.forbid()
    refused = invoke("run", "doc.md", "--out", "out.md")
    assert refused.exit_code == 2
    assert "out.md was edited since redraft last wrote it" in refused.stderr
    assert (project / "out.md").read_text().endswith("My own note.\n")

    (project / "doc.md").write_text(DOC + "Budget is fine.\n")
    refused = invoke("run", "doc.md", "--out", "out.md")
    assert refused.exit_code == 2  # refused before any model work

    (project / "doc.md").write_text(DOC)
    forced = invoke("run", "doc.md", "--out", "out.md", "--force")
    assert forced.exit_code == 0  # restored from the cached answer, still without the model
    assert (project / "out.md").read_text() == answer
    assert invoke("run", "doc.md", "--out", "out.md").exit_code == 0


def test_a_project_cached_by_the_previous_layout_keeps_its_answers_and_hand_edits(project):
    assert invoke("run", "doc.md", "--out", "out.md").exit_code == 0
    entry_file, = (project / ".redraft" / "v2" / "entries").glob("*.json")
    assert len(json.loads(entry_file.read_text())["answer_margins"]) > 0
    # What an older redraft left: the same files under v1, entries without margins.
    (project / ".redraft" / "v2").rename(project / ".redraft" / "v1")
    for path in (project / ".redraft" / "v1" / "entries").glob("*.json"):
        doc = json.loads(path.read_text())
        del doc["answer_margins"]
        path.write_text(json.dumps(doc))
    (project / "out.md").write_text((project / "out.md").read_text() + "My own note.\n")
    refused = invoke("run", "doc.md", "--out", "out.md")
    assert refused.exit_code == 2 and "was edited since redraft last wrote it" in refused.stderr

    (project / "out.md").unlink()
    (project / "doc.md").write_text(DOC.replace("room 12", "room 14"))
    redrafted = invoke("run", "doc.md", "--out", "out.md", "--json")
    assert redrafted.exit_code == 0, redrafted.stderr
    report = json.loads(redrafted.stdout)["targets"][0]
    assert report["mode"] == "redraft" and report["stats"]["held"] > 0


def test_document_too_long_for_the_context(project):
    (project / "doc.md").write_text(DOC * 8)
    result = invoke("run", "doc.md", "--n-ctx", "256")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "tokens long but the context window holds 256" in line
    assert len(line.splitlines()) == 1


def test_an_answer_cut_by_a_full_context_is_flagged(project):
    (project / "doc.md").write_text(DOC * 5)  # 235 prompt tokens: room for 20 answer tokens
    result = invoke("run", "doc.md", "--n-ctx", "256", "--max-tokens", "200", "--json")
    assert result.exit_code == 0, result.stderr
    (target,) = json.loads(result.stdout)["targets"]
    assert target["truncated"] is True and target["stats"]["emitted"] == 20
    assert "nearly fills the context window; raise n_ctx" in result.stderr
    roomy = invoke("run", "doc.md", "--max-tokens", "8", "--json")  # control: room to spare
    assert json.loads(roomy.stdout)["targets"][0]["truncated"] is False


def test_ctrl_c_after_the_output_was_written_says_so(project, monkeypatch):
    from redraft_cli import run_cmd

    monkeypatch.setattr(run_cmd, "record_answer", interrupted)
    result = invoke("run", "doc.md", "--out", "out.md")
    assert result.exit_code == 130
    assert "interrupted; complete before it: out.md" in result.stderr
    assert (project / "out.md").read_text().strip()


@pytest.mark.slow
def test_quick_start_targets_corrupt_entry_and_lock(tmp_path, monkeypatch):
    isolate_env(monkeypatch, ENV)
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    monkeypatch.chdir(work)
    outputs = ["notes.summary.md", "slugify.review.md"]

    first = invoke("run", "--json")
    assert first.exit_code == 0, first.stderr
    modes = {t["source"]: t["mode"] for t in json.loads(first.stdout)["targets"]}
    assert modes == {"notes.md": "fresh", "slugify.py": "fresh"}
    assert all((work / name).read_text().strip() for name in outputs)

    second = invoke("run")
    assert second.exit_code == 0
    assert second.stderr.count("unchanged") == 2

    # A corrupt entry is reported once and regenerated; the other target is untouched.
    config = load_config(work)
    key = job_for_file(config, Models(), work / "notes.md", None).key
    entry_file = config.cache_dir / "v2" / "entries" / f"{key}.json"
    entry_file.write_text("{ not json")
    (work / "notes.summary.md").unlink()
    third = invoke("run")
    assert third.exit_code == 0
    assert third.stderr.count("is unreadable") == 1
    assert "notes.md -> notes.summary.md: fresh" in third.stderr
    assert "slugify.py -> slugify.review.md: unchanged" in third.stderr
    assert invoke("run").exit_code == 0

    # Another process holding this target's lock: the run waits, then fails clearly.
    cache = open_cache(config)
    with lock_held_elsewhere(cache.base / "locks" / f"{key}.lock"):
        monkeypatch.setenv("REDRAFT_LOCK_TIMEOUT", "0.5")
        blocked = invoke("run")
        assert blocked.exit_code == 2
        assert "another redraft process is working on notes.md" in blocked.stderr
        assert "slugify.py -> slugify.review.md: unchanged" in blocked.stderr
