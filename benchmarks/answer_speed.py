"""Answer-side speed of redraft against fresh generation, on an edit that leaves the answer held.

Both arms start from the same restored KV state (the old prompt and answer), recompute the same
edited prompt tail, and emit the same answer; they alternate, and the script reports medians and
spreads. Run: python benchmarks/answer_speed.py [--repeat 7] [--model GGUF] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from redraft_engine import Engine

HERE = Path(__file__).parent
TASK = (
    "Write a detailed summary of the following report in about 200 words, covering construction, "
    "traffic, cost, safety and the outlook.\n\n"
)
# Candidate edits, tried in order: the first under which the tolerant redraft holds the whole old
# answer is measured. Greedy decoding is chaotic (a tiny edit can reshuffle a fresh answer), so
# the fresh arm's text may differ from the old answer; both arms run to the same token limit,
# so they do equal work.
EDITS = [
    ("typo in the last paragraph", lambda d: d.replace("tracking closely", "trackng closely")),
    ("double space in the middle", lambda d: d.replace("Complaints fell", "Complaints  fell")),
    ("appended signature", lambda d: d + "\n\nReport prepared by the project office."),
    ("reworded clause", lambda d: d.replace("in good shape", "in a good state")),
    ("trailing newline", lambda d: d + "\n"),
]


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    doc = (HERE / "answer_speed_doc.md").read_text()
    before = TASK + doc
    engine = Engine(args.model, max_tokens=args.max_tokens)
    engine.reset()
    old = engine.generate(before)
    state = engine.export_state()
    if len(old.tokens) < args.max_tokens:
        raise SystemExit(f"the old answer stopped at {len(old.tokens)} tokens, under the "
                         f"limit of {args.max_tokens}: lower --max-tokens")
    after = label = None
    for name, apply in EDITS:
        engine.import_state(*state)
        trial = engine.redraft(TASK + apply(doc), old)
        if trial.stats.held == len(old.tokens):
            after, label = TASK + apply(doc), name
            break
        print(f"edit {name!r}: the redraft held {trial.stats.held}/{len(old.tokens)} tokens; "
              "trying the next")
    if after is None:
        raise SystemExit("no candidate edit leaves the whole answer held on this model")
    print(f"model {engine.model.description}; prompt {old.stats.prompt_tokens} tokens; "
          f"old answer {len(old.tokens)} tokens; edit: {label}; cost fit {engine.cost}")

    rows: dict[str, list[dict]] = {"fresh": [], "redraft": []}
    for rep in range(args.repeat):
        order = ["fresh", "redraft"] if rep % 2 == 0 else ["redraft", "fresh"]
        for arm in order:
            engine.import_state(*state)
            t0 = time.perf_counter()
            r = engine.generate(after) if arm == "fresh" else engine.redraft(after, old)
            wall = time.perf_counter() - t0
            s = r.stats
            rows[arm].append({
                "wall_s": wall, "prefill_s": s.time.prefill, "answer_s": wall - s.time.prefill,
                "tokens": s.emitted, "held": s.held, "windows": s.windows,
                "outside_decode_s": s.time.other, "same_as_old": r.tokens == old.tokens,
            })

    fresh, red = rows["fresh"], rows["redraft"]
    ratios = [f["answer_s"] / r["answer_s"] for f, r in zip(fresh, red)]
    e2e = [f["wall_s"] / r["wall_s"] for f, r in zip(fresh, red)]
    outside = [r["outside_decode_s"] / r["wall_s"] for r in red]
    print(f"tokens emitted: fresh {fresh[0]['tokens']}, redraft {red[0]['tokens']}; "
          f"held {red[0]['held']}/{red[0]['tokens']} in {red[0]['windows']} windows; "
          f"redraft answer identical to old: {all(r['same_as_old'] for r in red)}; "
          f"fresh answer identical to old: {all(f['same_as_old'] for f in fresh)}")
    if any(f["tokens"] != r["tokens"] for f, r in zip(fresh, red)):
        print("warning: the arms emitted different token counts; compare per token")
    print(f"prompt recompute s: fresh {spread([f['prefill_s'] for f in fresh])}, "
          f"redraft {spread([r['prefill_s'] for r in red])}")
    print(f"answer-side s: fresh {spread([f['answer_s'] for f in fresh])}, "
          f"redraft {spread([r['answer_s'] for r in red])}")
    print(f"answer-side speedup (fresh/redraft, paired): {spread(ratios)}")
    print(f"end-to-end speedup (fresh/redraft, paired): {spread(e2e)}")
    print(f"redraft time outside llama_decode: {spread([100 * o for o in outside])} % of wall")
    if args.json:
        args.json.write_text(json.dumps({
            "model": engine.model.description, "machine": platform.machine(),
            "repeat": args.repeat, "edit": label, "arms": rows,
            "answer_speedup_median": statistics.median(ratios),
            "outside_decode_fraction_median": statistics.median(outside),
        }, indent=2))


if __name__ == "__main__":
    main()
