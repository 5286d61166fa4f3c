"""Fresh against blend on every suite case, one repeat: attributable regressions only.

A quicker check than `redraft bench` (two arms, no timing tables). Run it under a second
llama.cpp build to see another CPU's numerics on this one (bench/README.md, section 8).
Each case's row is written as soon as it is done, so an interrupted run keeps what it measured.

Run alone: python bench/blend_regressions.py --json OUT.json [--model PATH] [--arm tolerant]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from redraft_cli.bench.arms import REDRAFT_ARMS, ArmRun, run_case
from redraft_cli.bench.cases import load_suite
from redraft_cli.bench.checks import attributable_checks, case_checks, regressions
from redraft_cli.bench.departure import departure
from redraft_cli.config import FINAL_PROMPT_REUSE, load_config
from redraft_cli.engine_access import Models, load_engine


def compared(fresh: ArmRun, arm: ArmRun, checks: list) -> dict:
    """The arm's regressions against fresh, its gains over fresh, and where it leaves fresh."""
    parted = departure(fresh.token_ids, fresh.margins, arm.token_ids, arm.margins)
    return {
        "regressed": [str(c) for c in regressions(checks, [fresh.text], [arm.text])],
        "improved": [str(c) for c in regressions(checks, [arm.text], [fresh.text])],
        "departure": None if parted is None else parted.to_json(),
        "wall": arm.wall_s, "fresh_wall": fresh.wall_s, "text": arm.text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--arm", action="append", choices=REDRAFT_ARMS,
                        help="redraft arm to compare with fresh (repeatable; default blend)")
    parser.add_argument("--filter", "-k", action="append", default=[])
    args = parser.parse_args()
    arms = tuple(args.arm or ["blend"])
    flags = dict(model=args.model, max_tokens=None, threads=None)
    settings = load_config(flags=flags).settings.with_prompt_reuse(FINAL_PROMPT_REUSE)
    engine = load_engine(settings, Models().identify(settings))
    rows = []
    started = time.perf_counter()
    for index, case in enumerate(load_suite(Path("cases"), tuple(args.filter))):
        run = run_case(engine, case, 1, rotation=index, arms=("fresh", *arms))
        checks = attributable_checks(
            case_checks(case.expect, case.forbid), case.before, run.old.text)
        fresh = run.runs["fresh"][0]
        row = {"id": case.id, "old": run.old.text, "noise": engine.noise,
               "fresh_text": fresh.text}
        row.update({arm: compared(fresh, run.runs[arm][0], checks) for arm in arms})
        rows.append(row)
        args.json.write_text(json.dumps(rows, indent=0))
        found = {arm: (row[arm]["regressed"], row[arm]["improved"]) for arm in arms}
        print(case.id, found, f"{time.perf_counter() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
