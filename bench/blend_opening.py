"""Would a margin guard on a blended prompt's first answer tokens catch blend's divergences?

For every case of the suite: the old answer on `before` (its first 32 tokens: the opening
decisions do not depend on the rest), then on `after`, from the old answer's KV state, the
first 4 tokens of three calls: fresh generation, the default (tolerant) redraft over exact
prefix reuse, and the same redraft over a blended prompt, each with its decision margins.
Over exact prefix reuse the first row is fresh generation's own, so where the blend's opening
differs from the exact redraft's, the approximate KV decided it.

The summary asks, for thresholds up to the model's near-tie noise: how many blended cases a
guard "prefill exactly when a blended opening token was chosen by less than the threshold"
would send back to an exact prefill, and how many of the opening divergences it would catch.

Run alone: python bench/blend_opening.py [--model PATH] --json bench/results/NAME.json
           python bench/blend_opening.py --summarize bench/results/NAME.json --noise 0.3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from redraft_cli.bench.cases import load_suite

OPENING = 2  # the default start probation: the tokens a guard would look at
PROBE = 4
OLD_TOKENS = 32


def probe(model: str | None) -> tuple[list[dict[str, Any]], float]:
    from redraft_engine import Engine

    engine = Engine(model, max_tokens=PROBE)
    rows = []
    for case in load_suite(Path("cases")):
        before, after = case.prompt(case.before), case.prompt(case.after)
        engine.reset()
        old = engine.generate(before, max_tokens=OLD_TOKENS)
        state = engine.export_state()
        row: dict[str, Any] = {"id": case.id, "edit": case.extra.get("edit"),
                               "where": case.extra.get("where"), "old": old.tokens[:PROBE],
                               "old_m": old.margins[:PROBE]}
        for arm in ("fresh", "tol", "blend"):
            engine.import_state(*state)
            engine.prompt_reuse = "blend" if arm == "blend" else "exact"
            try:
                r = (engine.generate(after) if arm == "fresh" else engine.redraft(after, old))
            finally:
                engine.prompt_reuse = "exact"
            row[arm], row[arm + "_m"] = r.tokens[:PROBE], r.margins[:PROBE]
            row[arm + "_shift"] = r.stats.prompt_shifted
        rows.append(row)
        print(case.id, row["blend"][:OPENING] == row["tol"][:OPENING],
              [round(m, 2) for m in row["blend_m"][:OPENING]], flush=True)
    return rows, engine.noise


def summarize(rows: list[dict[str, Any]], noise: float) -> None:
    blended = [r for r in rows if r["blend_shift"] > 0]
    diverging = [r for r in blended if r["blend"][:OPENING] != r["tol"][:OPENING]]
    print(f"{len(blended)} of {len(rows)} cases blended; the blended opening differs from the "
          f"exact redraft's in {len(diverging)}")
    for threshold in sorted({0.05, 0.1, 0.2, round(noise, 2)}):
        fires = {r["id"] for r in blended
                 if r["blend_m"] and min(r["blend_m"][:OPENING]) < threshold}
        caught = [r["id"] for r in diverging if r["id"] in fires]
        missed = [r["id"] for r in diverging if r["id"] not in fires]
        print(f"threshold {threshold:.2f}: exact prefill in {len(fires)} of {len(blended)}, "
              f"catches {len(caught)} of {len(diverging)}; missed {missed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--summarize", type=Path, help="summarize a saved run instead")
    parser.add_argument("--noise", type=float, help="with --summarize: the model's noise")
    args = parser.parse_args()
    if args.summarize:
        saved = json.loads(args.summarize.read_text())
        summarize(saved["rows"], args.noise if args.noise is not None else saved["noise"])
        return
    if args.json is None:
        parser.error("--json is required to run the probe")
    started = time.perf_counter()
    rows, noise = probe(args.model)
    args.json.write_text(json.dumps({"noise": noise, "rows": rows}, indent=1))
    print(f"{time.perf_counter() - started:.0f} s")
    summarize(rows, noise)


if __name__ == "__main__":
    main()
