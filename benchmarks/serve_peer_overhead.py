"""The `overhead` part of benchmarks/serve_peer.py: the same redrafts served by `redraft serve`
and run in-process (`Engine.redraft`), alternating, never at the same time; the ratio, the
server's own engine time, and its table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import openai
from serve_peer_requests import Reply, messages_for, request_body, stream_chat
from serve_peer_servers import Server, client_for, pause, settle, start_redraft
from serve_peer_stats import fmt, meets, progress, spread

TARGET_OVERHEAD = 1.05  # served ÷ in-process


def served_redraft(client: openai.OpenAI, server: Server, case: Any, max_tokens: int,
                   settings: dict[str, str]) -> Reply:
    old = stream_chat(client, request_body(case.prompt(case.before), max_tokens, None, None,
                                           False), peer=False)
    settle(server)
    reply = stream_chat(client, request_body(case.prompt(case.after), max_tokens, old.text,
                                             settings, False), peer=False)
    settle(server)
    return reply


def in_process_redraft(engine: Any, case: Any, rule: str, old_as_text: bool) -> dict[str, Any]:
    """The old answer, then the timed redraft of it: from the Result (with its prompt and
    margins) or, as the server gets it, from its text alone."""
    old = engine.generate(messages_for(case.prompt(case.before)))
    pause()
    t0 = time.perf_counter()
    result = engine.redraft(messages_for(case.prompt(case.after)), old.text if old_as_text else old,
                            rule=rule)
    wall = time.perf_counter() - t0
    pause()
    return {"e2e_s": wall, "tokens": result.stats.emitted,
            "held_fraction": result.stats.held_fraction, "text": result.text}


def run_overhead(args: argparse.Namespace, cases: list[Any], logs: Path) -> dict[str, Any]:
    from redraft_engine import Engine

    settings = {"rule": args.rule, "prompt_reuse": args.prompt_reuse}
    rows: list[dict[str, Any]] = []
    engine = None
    try:
        for rep in range(args.repeat):
            with start_redraft(args, logs, args.max_tokens) as red:
                client = client_for(red)
                if engine is None:  # loaded while the server is idle (it calibrated already)
                    engine = Engine(args.model_path, n_ctx=args.n_ctx, n_threads=args.threads,
                                    max_tokens=args.max_tokens, prompt_reuse=args.prompt_reuse)
                for i, case in enumerate(cases):
                    order = ["served", "in_process"] if (i + rep) % 2 == 0 else [
                        "in_process", "served"]
                    got: dict[str, Any] = {}
                    for arm in order:
                        if arm == "served":
                            got[arm] = served_redraft(client, red, case, args.max_tokens,
                                                      settings)
                        else:
                            got[arm] = in_process_redraft(engine, case, args.rule,
                                                          args.in_process_old == "text")
                    served, local = got["served"], got["in_process"]
                    engine_s = (served.redraft or {}).get("wall_s")
                    rows.append({
                        "id": case.id, "category": case.category, "repeat": rep,
                        "order": order, "ratio": served.e2e_s / local["e2e_s"],
                        "engine_ratio": None if engine_s is None else engine_s / local["e2e_s"],
                        "outside_engine_s": None if engine_s is None else served.e2e_s - engine_s,
                        "served": served.summary(), "served_text": served.text,
                        "in_process": local,
                        "same_answer": served.text == local["text"],
                    })
                    progress(f"overhead rep {rep + 1}/{args.repeat} case {i + 1}/{len(cases)} "
                             f"{case.id}: served {served.e2e_s:.2f} s, in-process "
                             f"{local['e2e_s']:.2f} s")
    finally:
        if engine is not None:
            engine.close()
    ratios = [r["ratio"] for r in rows]
    return {"ratio": spread(ratios), "target": TARGET_OVERHEAD,
            "engine_ratio": spread([r["engine_ratio"] for r in rows
                                    if r["engine_ratio"] is not None]),
            "outside_engine_s": spread([r["outside_engine_s"] for r in rows
                                        if r["outside_engine_s"] is not None]),
            "same_held": sum(r["served"]["held_fraction"] == r["in_process"]["held_fraction"]
                             for r in rows),
            "same_answer": sum(r["same_answer"] for r in rows), "runs": len(rows), "rows": rows}


def overhead_table(summary: dict[str, Any]) -> str:
    r, e, o = summary["ratio"], summary["engine_ratio"], summary["outside_engine_s"]
    return ("| measure | median | min–max | target |\n|---|---|---|---|\n"
            f"| served ÷ in-process, end to end | {fmt(r['median'], 3, '×')}"
            f"{meets(r['median'], lambda v: v <= TARGET_OVERHEAD)} "
            f"| {fmt(r['min'], 3)}–{fmt(r['max'], 3)} | ≤{TARGET_OVERHEAD}× |\n"
            f"| the server's engine time ÷ in-process | {fmt(e['median'], 3, '×')} "
            f"| {fmt(e['min'], 3)}–{fmt(e['max'], 3)} | |\n"
            f"| served time outside the engine's call, s | {fmt(o['median'], 3)} "
            f"| {fmt(o['min'], 3)}–{fmt(o['max'], 3)} | |\n"
            f"\nsame answer served and in-process: {summary['same_answer']}/{summary['runs']}; "
            f"same held fraction: {summary['same_held']}/{summary['runs']}")
