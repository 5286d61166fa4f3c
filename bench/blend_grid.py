"""Blend settings against quality and time: how far a blended prompt moves the exact answer.

For every third case of the suite: the old answer on `before`, then the exact (fresh) greedy
answer on `after`. For each (bridge, tail), the old state is restored, the new prompt is
blended (timed), and the fresh answer is fed after it one token at a time, as fresh decoding
fed it (teacher forcing): the share of positions whose argmax is the fresh token
(`agree`), how many tokens a free greedy run would follow the fresh answer before its first
difference (`follow`), whether the first answer token is the same, how far the first row's
logits moved (largest absolute change), and the share of prompt tokens decoded. After an
exact prefill this probe repeats fresh decoding exactly, so any difference is the blend's.

Run alone: python bench/blend_grid.py [--model PATH] --json bench/results/NAME.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from redraft_engine import Engine

from redraft_cli.bench.cases import load_suite

GRID = [(0, 16), (4, 8), (4, 16), (4, 32), (4, 48), (16, 32)]
PROBE = 128


def follow_fresh(engine: Engine, first_row: np.ndarray, answer: list[int]) -> tuple[float, int]:
    """Feed `answer` serially after the prompt; return the share of rows whose argmax is the
    next answer token, and the index of the first row where it is not (len(answer) if none)."""
    hits, first_miss = 0, len(answer)
    row = np.array(first_row)
    for i, token in enumerate(answer):
        if int(row.argmax()) == token:
            hits += 1
        elif first_miss == len(answer):
            first_miss = i
        if i + 1 < len(answer):
            row = np.array(engine.session.feed([token], all_logits=False, phase="serial")[0])
    return hits / len(answer), first_miss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    engine = Engine(args.model, max_tokens=PROBE)
    session = engine.session
    rows = []
    started = time.perf_counter()
    for case in load_suite(Path("cases"))[::3]:
        before, after = case.prompt(case.before), case.prompt(case.after)
        engine.reset()
        engine.generate(before)
        state = engine.export_state()
        fresh = engine.generate(after)
        if not fresh.tokens:
            continue
        new = engine.prompt_tokens(after)
        engine.import_state(*state)
        exact_row, _ = session.prefill(new)
        exact_row = np.array(exact_row)
        agree, follow = follow_fresh(engine, exact_row, fresh.tokens)
        row = {"id": case.id, "n": len(new), "answer": len(fresh.tokens),
               "exact": {"agree": agree, "follow": follow}}
        for bridge, tail in GRID:
            engine.import_state(*state)
            session.timings.prefill_tokens = 0
            t0 = time.perf_counter()
            first, _, shifted, _ = session.prefill_blend(
                new, bridge=bridge, tail=tail, min_keep=16, budget=1.0)
            seconds = time.perf_counter() - t0
            first = np.array(first)
            agree, follow = follow_fresh(engine, first, fresh.tokens)
            row[f"k{bridge}t{tail}"] = {
                "agree": agree, "follow": follow,
                "first": int(np.argmax(first)) == fresh.tokens[0],
                "first_row_change": float(np.abs(first - exact_row).max()),
                "recomputed": session.timings.prefill_tokens, "shifted": shifted,
                "prefill_s": seconds,
            }
        rows.append(row)
        print(f"{time.perf_counter() - started:5.0f}s {case.id}", flush=True)
    args.json.write_text(json.dumps(rows, indent=1))
    for key in ["exact"] + [f"k{b}t{t}" for b, t in GRID]:
        agree = [r[key]["agree"] for r in rows]
        follow = [r[key]["follow"] / r["answer"] for r in rows]
        line = (f"{key:7}: agree median {statistics.median(agree):.3f} min {min(agree):.3f}; "
                f"follow median {statistics.median(follow):.2f} min {min(follow):.2f}")
        if key != "exact":
            share = [r[key]["recomputed"] / r["n"] for r in rows]
            change = [r[key]["first_row_change"] for r in rows]
            secs = [r[key]["prefill_s"] for r in rows if r[key]["shifted"]]
            line += (f"; first token same {sum(r[key]['first'] for r in rows)}/{len(rows)}; "
                     f"first-row change median {statistics.median(change):.2f} "
                     f"max {max(change):.2f}; decoded share median "
                     f"{statistics.median(share):.3f}; blended prefill median "
                     f"{statistics.median(secs) if secs else float('nan'):.2f} s")
        print(line)


if __name__ == "__main__":
    main()
