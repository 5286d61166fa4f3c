"""Time an unchanged `redraft run` (the pre-commit path) against `python -c pass`.

Copies examples/ to a temporary folder, answers it once (that run loads the model), then runs
the two commands alternately and reports medians and spreads. The floor, `python -c pass`, is
the interpreter's own start-up; the difference is what redraft adds.

    python benchmarks/unchanged_run.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    q1, _, q3 = statistics.quantiles(ms, n=4)
    return (f"{name:<22} median {statistics.median(ms):6.0f} ms   quartiles {q1:.0f}-{q3:.0f} ms"
            f"   min {ms[0]:.0f}   max {ms[-1]:.0f}   (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--module", action="store_true",
                        help="run `python -m redraft_cli` (honours PYTHONPATH) instead of the "
                        "installed `redraft` script")
    args = parser.parse_args()
    redraft = [str(Path(sys.executable).with_name("redraft"))]
    if args.module or not Path(redraft[0]).exists():
        redraft = [sys.executable, "-m", "redraft_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(EXAMPLES, project)
        first = subprocess.run([*redraft, "run"], cwd=project, capture_output=True, text=True)
        if first.returncode not in (0, 1):
            sys.exit(f"the first redraft run failed: {first.stderr.strip()}")
        arms: dict[str, list[float]] = {"python -c pass": [], "redraft run (unchanged)": []}
        for _ in range(args.repeats):
            arms["python -c pass"].append(timed([sys.executable, "-c", "pass"], project))
            arms["redraft run (unchanged)"].append(timed([*redraft, "run"], project))
    for name, times in arms.items():
        print(summary(name, times))
    added = statistics.median(arms["redraft run (unchanged)"]) - statistics.median(
        arms["python -c pass"])
    print(f"redraft adds {added * 1000:.0f} ms (median difference)")


if __name__ == "__main__":
    main()
