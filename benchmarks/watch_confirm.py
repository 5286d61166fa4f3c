"""What `watch` leaves after a save: the blended answer it shows, then the confirmed one.

`watch` answers a save over a blended prompt (prompt_reuse "auto") and, when idle, recomputes
the prompt exactly and re-verifies the shown answer with the redraft's rule and edit (or, where
the exact prompt opens the answer otherwise, redrafts the old answer over it). For every
case of the suite, from the old answer's KV state, two arms alternate:

- fresh: greedy generation on `after` (the prefix of the old prompt reused): the baseline;
- watch: the tolerant redraft over a blended prompt (what is shown), then `make_prompt_exact`
  and `stream_confirm` given the old answer (what stays on screen and on disk).

The case's checks judge both the shown and the confirmed answer against fresh, counted as
`redraft bench` counts attributable regressions, except that there is no cold arm here to
leave out the checks numerics alone lose. Times: the first token after the start of
the shown redraft, the shown answer's wall time, and the time to the confirmed answer (shown,
exact prefill and re-verification) against fresh generation's wall time.

Run alone (no other model process): python benchmarks/watch_confirm.py --repeat 2 \
    --json benchmarks/results/watch-confirm-NAME.json [--model PATH] [--filter ID]...
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from redraft_cli.bench.cases import load_suite
from redraft_cli.bench.checks import attributable_checks, case_checks, regressions
from redraft_cli.watch_stream import tokens_changed


def run_case(engine: Any, case: Any, repeats: int, turn: int) -> dict[str, Any]:
    before, after = case.prompt(case.before), case.prompt(case.after)
    engine.reset()
    old = engine.generate(before)
    state = engine.export_state()
    runs: dict[str, list[dict[str, Any]]] = {"fresh": [], "watch": []}
    for repeat in range(repeats):
        order = ("fresh", "watch") if (turn + repeat) % 2 == 0 else ("watch", "fresh")
        for arm in order:
            if not engine.import_state(*state):
                raise RuntimeError(f"{case.id}: could not restore the old answer's KV state")
            if arm == "fresh":
                r = engine.generate(after)
                runs[arm].append({"text": r.text, "wall_s": r.stats.wall_s})
                continue
            engine.prompt_reuse = "blend"
            try:
                shown = engine.redraft(after, old)
            finally:
                engine.prompt_reuse = "exact"
            confirmed, exact_s, confirm_s = shown, 0.0, 0.0
            if shown.stats.prompt_shifted:  # as in watch: nothing approximate, nothing to confirm
                t0 = time.perf_counter()
                if not engine.make_prompt_exact(after, lambda: False):
                    raise RuntimeError(f"{case.id}: the blended prompt was not made exact")
                exact_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                confirmed = engine.stream_confirm(after, shown, redrafted_from=old).run()
                confirm_s = time.perf_counter() - t0  # with an opening dropped for a redraft
            runs[arm].append({
                "shown": shown.text, "text": confirmed.text,
                "shifted": shown.stats.prompt_shifted,
                "first_token_s": shown.stats.first_token_s, "shown_s": shown.stats.wall_s,
                "exact_s": exact_s, "confirm_s": confirm_s,
                "changed_tokens": tokens_changed(shown, confirmed) if confirm_s else 0,
                "same_tokens": confirmed.tokens == shown.tokens,
                "redrafted": confirmed.stats.confirm_redrafted,
            })
    checks = attributable_checks(case_checks(case.expect, case.forbid), case.before, old.text)
    fresh_texts = [r["text"] for r in runs["fresh"]]
    return {
        "id": case.id, "category": case.category, "edit": case.extra.get("edit"),
        "runs": runs,
        "shown_regressions": [str(c) for c in regressions(
            checks, fresh_texts, [r["shown"] for r in runs["watch"]])],
        "confirmed_regressions": [str(c) for c in regressions(
            checks, fresh_texts, [r["text"] for r in runs["watch"]])],
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    watch = [run for r in rows for run in r["runs"]["watch"]]
    per_case = []
    for r in rows:
        fresh = statistics.median(x["wall_s"] for x in r["runs"]["fresh"])
        settled = statistics.median(x["shown_s"] + x["exact_s"] + x["confirm_s"]
                                    for x in r["runs"]["watch"])
        shown = statistics.median(x["shown_s"] for x in r["runs"]["watch"])
        per_case.append((fresh / shown, fresh / settled))
    return {
        "cases": len(rows),
        "blended_runs": sum(1 for x in watch if x["shifted"] > 0),
        "runs": len(watch),
        "shown_regressions": {r["id"]: r["shown_regressions"] for r in rows
                              if r["shown_regressions"]},
        "confirmed_regressions": {r["id"]: r["confirmed_regressions"] for r in rows
                                  if r["confirmed_regressions"]},
        "confirmed_runs": sum(1 for x in watch if x["confirm_s"] > 0),
        "confirmations_changing_tokens": sum(1 for x in watch if not x["same_tokens"]),
        "confirmations_redrafting": sum(1 for x in watch if x.get("redrafted")),
        "median_changed_tokens_where_changed": statistics.median(
            [x["changed_tokens"] for x in watch if not x["same_tokens"]] or [0]),
        "median_first_token_s": statistics.median(x["first_token_s"] for x in watch),
        "median_shown_speedup_vs_fresh": statistics.median(s for s, _ in per_case),
        "median_settled_speedup_vs_fresh": statistics.median(c for _, c in per_case),
        "settled_speedup_range": [min(c for _, c in per_case), max(c for _, c in per_case)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--filter", action="append", default=[])
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    from redraft_engine import Engine

    engine = Engine(args.model)
    started = time.perf_counter()
    rows = []
    for turn, case in enumerate(load_suite(Path("cases"), args.filter)):
        row = run_case(engine, case, args.repeat, turn)
        rows.append(row)
        last = row["runs"]["watch"][-1]
        print(f"{case.id}: shifted {last['shifted']}, changed {last['changed_tokens']}"
              f"{' (redrafted)' if last['redrafted'] else ''}, "
              f"regressions shown {row['shown_regressions']} confirmed "
              f"{row['confirmed_regressions']}", flush=True)
    summary = summarize(rows)
    wall = time.perf_counter() - started
    args.json.write_text(json.dumps({"model": str(engine.model_path), "noise": engine.noise,
                                     "repeat": args.repeat, "wall_s": wall, "summary": summary,
                                     "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"{wall / 60:.1f} min")


if __name__ == "__main__":
    main()
