"""Sweep `Engine(probation=K)` or `Engine(start_probation=K)` over trivial and factual edits.

For each case whose `edit` is a typo, whitespace or punctuation edit (trivial) or a change of
a fact (`*-change`, or a canary): the old answer on `before`, a fresh answer on `after`, then one
tolerant redraft per K. Trivial edits report the held fraction; every case reports whether the
redraft lost a check that the fresh answer passed (attributable `!`, strict `?`).

Each redraft and the fresh answer start from the KV state the old answer left, as in
`redraft bench`, so their first answer row comes from the same prefill batch as there.

Run alone (a second model process would starve both):
    python bench/probation_sweep.py [--model PATH] [--knob probation|start] [--k 0 1 2 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from redraft_engine import Engine

from redraft_cli.bench.cases import load_suite
from redraft_cli.bench.checks import attributable_checks, case_checks, regressions
from redraft_cli.bench.stability import TRIVIAL_EDITS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="GGUF file (default: the bundled model)")
    parser.add_argument("--knob", choices=("probation", "start"), default="probation",
                        help="tokens after each re-anchor, or at the answer's start")
    parser.add_argument("--k", type=int, nargs="+", default=None,
                        help="values to sweep (default: 0 1 2 4, or 1 2 4 at the start)")
    parser.add_argument("--cases", type=Path, default=Path("cases"))
    args = parser.parse_args()
    args.k = args.k or ([0, 1, 2, 4] if args.knob == "probation" else [1, 2, 4])
    if args.knob == "start" and min(args.k) < 1:
        parser.error("--knob start needs every K to be at least 1 (the first token is always "
                     "in the opening)")
    engine = Engine(args.model, max_tokens=256)
    attribute = "probation" if args.knob == "probation" else "start_probation"
    print(f"noise {engine.noise:.3f}, sweeping {attribute}", flush=True)
    held: dict[int, list[float]] = {k: [] for k in args.k}
    lost: dict[int, list[str]] = {k: [] for k in args.k}
    started = time.perf_counter()
    for case in load_suite(args.cases):
        edit = str(case.extra.get("edit", ""))
        trivial = edit in TRIVIAL_EDITS
        if not (trivial or case.extra.get("canary") or edit.endswith("-change")):
            continue
        before, after = case.prompt(case.before), case.prompt(case.after)
        engine.reset()
        old = engine.generate(before)
        state = engine.export_state()
        fresh = engine.generate(after)
        checks = case_checks(case.expect, case.forbid)
        counted = attributable_checks(checks, case.before, old.text)
        row = []
        for k in args.k:
            setattr(engine, attribute, k)
            engine.import_state(*state)
            redraft = engine.redraft(after, old)
            attributable = regressions(counted, [fresh.text], [redraft.text])
            strict = regressions(checks, [fresh.text], [redraft.text])
            if trivial and redraft.stats.emitted:
                held[k].append(redraft.stats.held_fraction)
            if attributable:
                lost[k].append(case.id)
            row.append(f"K{k}:{redraft.stats.held_fraction:.2f}"
                       f"{'!' if attributable else ''}{'?' if strict else ''}")
        print(f"{time.perf_counter() - started:6.0f}s {case.id} {edit} {' '.join(row)}",
              flush=True)
    for k in args.k:
        values = held[k] or [float("nan")]
        print(f"K={k}: trivial held median {statistics.median(values):.3f} "
              f"min {min(values):.3f} (n={len(held[k])}); attributable regressions {lost[k]}")


if __name__ == "__main__":
    main()
