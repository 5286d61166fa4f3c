"""Blend settings against quality: how far a blended prompt moves the exact greedy answer.

For every third case of the suite: the old answer on `before`, then the exact (fresh) greedy
answer on `after`. For each (bridge, tail), the old state is restored, the new prompt is
blended, and the fresh answer is decoded after it in one batch (teacher forcing): the share
of positions whose argmax is the fresh token, whether the first answer token is the same, and
the share of prompt tokens decoded. `exact` is the same probe after an exact prefill: the
floor set by batched-versus-serial numerics.

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

GRID = [(0, 16), (4, 16), (16, 16), (0, 48), (4, 48), (16, 48)]
PROBE = 128


def agreement(engine: Engine, answer: list[int]) -> float:
    if len(answer) < 2:
        return 1.0
    rows = np.array(engine.session.feed(answer[:-1], all_logits=True, phase="verify"))
    return float((rows.argmax(axis=1) == np.array(answer[1:])).mean())


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
        session.prefill(new)
        row = {"id": case.id, "n": len(new), "exact_agree": agreement(engine, fresh.tokens)}
        for bridge, tail in GRID:
            engine.import_state(*state)
            session.timings.prefill_tokens = 0
            first, _, shifted, _ = session.prefill_blend(
                new, bridge=bridge, tail=tail, min_keep=16, budget=1.0)
            row[f"k{bridge}t{tail}"] = {
                "agree": agreement(engine, fresh.tokens),
                "first": int(np.argmax(first)) == fresh.tokens[0],
                "recomputed": session.timings.prefill_tokens, "shifted": shifted,
            }
        rows.append(row)
        print(f"{time.perf_counter() - started:5.0f}s {case.id}", flush=True)
    args.json.write_text(json.dumps(rows, indent=1))
    for bridge, tail in GRID:
        key = f"k{bridge}t{tail}"
        agree = [r[key]["agree"] for r in rows]
        share = [r[key]["recomputed"] / r["n"] for r in rows]
        print(f"{key}: agreement median {statistics.median(agree):.3f} min {min(agree):.3f}; "
              f"first token same {sum(r[key]['first'] for r in rows)}/{len(rows)}; "
              f"decoded share median {statistics.median(share):.3f}")
    exact = [r["exact_agree"] for r in rows]
    print(f"exact: agreement median {statistics.median(exact):.3f} min {min(exact):.3f}")


if __name__ == "__main__":
    main()
