"""One real `redraft bench` run on the default model: a one-case suite, one repeat."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from helpers.cli_env import without_redraft_vars

from redraft_cli.bench import register

pytestmark = [pytest.mark.model, pytest.mark.slow]

CASE = {
    "id": "tiny-library-date", "category": "fact_answer", "task": "answer",
    "question": "When does the library reopen?",
    "before": "The city library closed for repairs in May. It will reopen on March 14 with a "
              "new reading room and longer opening hours.",
    "after": "The city library closed for repairs in May. It will reopen on April 3 with a "
             "new reading room and longer opening hours.",
    "expect": [], "forbid": ["March 14"], "edit": "date-change", "canary": True,
}


def write_suite(tmp_path, cases):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "cases.json").write_text(json.dumps(cases))
    return suite


def bench_in_process(tmp_path, monkeypatch, cases, max_tokens):
    """Run `bench` on `cases` in this process; return the CliRunner result and the JSON path."""
    monkeypatch.setenv("CI", "1")  # plain progress lines, no animation
    suite = write_suite(tmp_path, cases)
    out = tmp_path / "bench.json"
    app = click.Group("redraft")
    register(app)
    result = CliRunner().invoke(app, ["bench", str(suite), "--repeat", "1", "--max-tokens",
                                      str(max_tokens), "--json", str(out)])
    return result, out


def test_bench_runs_every_arm_and_writes_the_json(tmp_path, monkeypatch):
    result, out = bench_in_process(tmp_path, monkeypatch, [CASE], max_tokens=32)
    # 0 or 1: a tiny model may regress; the exit code must agree with the JSON either way.
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(out.read_text())
    gated = {"exact", "tolerant"}  # blend is not the configured prompt reuse
    assert result.exit_code == int(any(set(c["regression_arms"]) & gated for c in doc["cases"]))
    assert "tiny-library-date" in result.output and "[1/1]" in result.output
    assert doc["model"].endswith(".gguf") and doc["machine"]
    (case,) = doc["cases"]
    assert set(case["arms"]) == {"cold", "fresh", "exact", "tolerant", "blend"}
    for name, arm in case["arms"].items():
        assert 0 < arm["tokens"] <= 32, name
        assert arm["wall_s"] > 0 and arm["prompt_s"] > 0
        assert arm["wall_s"] == pytest.approx(arm["prompt_s"] + arm["answer_s"])
    assert case["arms"]["fresh"]["similarity"] == 1.0
    assert case["arms"]["cold"]["held_fraction"] == 0.0
    # Warm arms start from the old answer's KV state, so they reuse the common prompt prefix.
    assert case["arms"]["cold"]["prompt_reused"] == 0
    assert case["arms"]["fresh"]["prompt_reused"] > 0
    assert case["arms"]["tolerant"]["prompt_reused"] == case["arms"]["fresh"]["prompt_reused"]
    # The edit is 20 tokens from the end: inside the recomputed tail, so blend is exact reuse.
    assert case["arms"]["blend"]["prompt_shifted"] == 0
    assert case["arms"]["blend"]["prompt_reused"] == case["arms"]["fresh"]["prompt_reused"]
    summary = doc["summary"]
    assert set(summary) == {"fact_answer", "all"}
    assert summary["fact_answer"]["cases"] == 1


def test_ctrl_c_keeps_the_summary_of_the_cases_that_finished(tmp_path):
    suite = write_suite(tmp_path, [CASE, {**CASE, "id": "tiny-library-date-again"}])
    out = tmp_path / "bench.json"
    env = without_redraft_vars({"CI": "1"})  # the session's calibration folder: measured once
    proc = subprocess.Popen(
        [sys.executable, "-m", "redraft_cli", "bench", str(suite), "--repeat", "1",
         "--max-tokens", "32", "--json", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # one plain progress line per finished case
        if "[1/2]" in line:
            proc.send_signal(signal.SIGINT)  # the second case has just started
            break
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "interrupted: the summary covers the 1 of 2 cases" in stdout
    doc = json.loads(out.read_text())
    assert [c["id"] for c in doc["cases"]] == ["tiny-library-date"]
    assert doc["settings"]["cases_run"] == 1 and doc["settings"]["cases_selected"] == 2
    assert doc["summary"]["all"]["cases"] == 1


def test_ctrl_c_right_after_a_case_finished_keeps_that_case(tmp_path, monkeypatch):
    from redraft_cli.bench import report

    build_table = report.case_table

    def interrupted_table(result):
        build_table(result)
        raise KeyboardInterrupt  # the key lands after the first case, before its table prints

    monkeypatch.setattr(report, "case_table", interrupted_table)
    cases = [CASE, {**CASE, "id": "tiny-library-again"}]
    result, out = bench_in_process(tmp_path, monkeypatch, cases, max_tokens=16)
    assert result.exit_code == 130, result.output
    assert "interrupted: the summary covers the 1 of 2 cases" in result.output
    doc = json.loads(out.read_text())
    assert [c["id"] for c in doc["cases"]] == ["tiny-library-date"]
    assert doc["settings"]["cases_run"] == 1
