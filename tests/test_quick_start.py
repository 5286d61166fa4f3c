"""The README's quick start, run line by line as a user would, on a copy of examples/."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli_env import without_redraft_vars

pytestmark = [pytest.mark.model, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def quick_start_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```sh\n(.*?)```", readme, re.S)
    assert block, "README.md has no quick start block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_quick_start_runs(tmp_path):
    lines = quick_start_lines()
    assert len(lines) == 5
    copy, *commands = lines
    assert copy.startswith("cp -r examples ")
    demo = tmp_path / "redraft-demo"
    subprocess.run(["cp", "-r", str(ROOT / "examples"), str(demo)], check=True)

    bin_dir = Path(sys.executable).parent
    env = without_redraft_vars({"REDRAFT_MAX_TOKENS": "48"})
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        if argv[:2] == ["redraft", "watch"]:
            argv += ["--max-events", "1", "--json"]  # bounded: the first answer, then exit
        done = subprocess.run(argv, cwd=demo, env=env, capture_output=True, text=True,
                              timeout=300)
        outputs.append(done)
        assert "Traceback" not in done.stderr, done.stderr

    first, edit, second, watch = outputs
    assert first.returncode == 0, first.stderr  # outputs written: success
    assert (demo / "notes.summary.md").read_text().strip()
    assert (demo / "slugify.review.md").read_text().strip()
    assert edit.returncode == 0 and "April 3rd" in (demo / "notes.md").read_text()

    assert second.returncode == 0, second.stderr
    modes = {t["source"]: t for t in json.loads(second.stdout)["targets"]}
    assert modes["slugify.py"]["mode"] == "unchanged"
    notes = modes["notes.md"]
    assert notes["mode"] == "redraft"
    assert notes["stats"]["prompt_reused"] > 0  # the persisted KV state of the first process
    assert notes["stats"]["held"] > 0  # the old summary was replayed, not regenerated

    assert watch.returncode == 0, watch.stderr
    events = [json.loads(line) for line in watch.stdout.splitlines()]
    assert [e["event"] for e in events] == ["started", "answer"]
    assert events[1]["mode"] == "cached"  # unchanged since `redraft run` answered it
