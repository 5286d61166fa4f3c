"""The `load` part of benchmarks/serve_peer.py: client threads sending small requests at once,
with and without a prediction, streamed and not; the statuses, latency of the 200s and the
server's resident memory after warm-up and at the end, and its table."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import openai
from serve_peer_requests import complete_chat, request_body, stream_chat
from serve_peer_servers import REQUEST_TIMEOUT_S, client_for, start_redraft, wait_idle
from serve_peer_stats import fmt, meets, percentile

TARGET_RSS_GROWTH = 0.10
LOAD_THREADS = 4
LOAD_PER_THREAD = 25
LOAD_MAX_TOKENS = 32
LOAD_CASES = 6  # the shortest prompts of the suite


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def load_prompts(cases: list[Any]) -> list[tuple[str, str]]:
    """(before prompt, after prompt) of the suite's shortest cases."""
    pairs = [(c.prompt(c.before), c.prompt(c.after)) for c in cases]
    return sorted(pairs, key=lambda p: len(p[1]))[:LOAD_CASES]


def load_request(client: openai.OpenAI, index: int, prompts: list[tuple[str, str]],
                 olds: list[str]) -> dict[str, Any]:
    """Request `index`: one of the prompts, before or after, with the old answer as the
    prediction on every other one, streamed on every other pair."""
    which = index % len(prompts)
    before, after = prompts[which]
    predicted = index % 2 == 1
    body = request_body(after if predicted or index % 4 == 2 else before, LOAD_MAX_TOKENS,
                        olds[which] if predicted else None, None, False)
    stream = (index // 2) % 2 == 1
    t0 = time.perf_counter()
    try:
        reply = stream_chat(client, body, peer=False) if stream else complete_chat(client, body)
        return {"status": 200, "latency_s": reply.e2e_s, "predicted": predicted,
                "stream": stream}
    except openai.APIStatusError as exc:
        status: int | str = exc.status_code
    except openai.APIError as exc:
        status = type(exc).__name__
    return {"status": status, "latency_s": time.perf_counter() - t0, "predicted": predicted,
            "stream": stream}


def run_load(args: argparse.Namespace, cases: list[Any], logs: Path) -> dict[str, Any]:
    prompts = load_prompts(cases)
    with start_redraft(args, logs, LOAD_MAX_TOKENS, args.queue_size) as red:
        client = client_for(red)
        olds = [complete_chat(client, request_body(b, LOAD_MAX_TOKENS, None, None, False)).text
                for b, _ in prompts]  # warm-up, and the predictions
        for i in range(len(prompts)):  # warm-up of the predicted path
            load_request(client, 2 * i + 1, prompts, olds)
        wait_idle(red)
        rss_warm = rss_kib(red.proc.pid)
        outcomes: list[dict[str, Any]] = []
        lock = threading.Lock()

        def worker(thread: int) -> None:
            own = client_for(red)
            for k in range(args.load_requests):
                outcome = load_request(own, thread * args.load_requests + k, prompts, olds)
                with lock:
                    outcomes.append(outcome)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(t,), daemon=True)
                   for t in range(args.load_threads)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + REQUEST_TIMEOUT_S * args.load_requests
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        wall = time.perf_counter() - t0
        wait_idle(red)
        rss_end = rss_kib(red.proc.pid)
        alive = red.proc.poll() is None
    ok = [o["latency_s"] for o in outcomes if o["status"] == 200]
    statuses = Counter(str(o["status"]) for o in outcomes)
    growth = (rss_end / rss_warm - 1) if rss_warm and rss_end else None
    return {"threads": args.load_threads, "per_thread": args.load_requests,
            "max_tokens": LOAD_MAX_TOKENS, "requests": len(outcomes), "wall_s": wall,
            "statuses": dict(statuses),
            "unexpected": sum(n for s, n in statuses.items() if s not in ("200", "429")),
            "p50_s": percentile(ok, 50), "p95_s": percentile(ok, 95),
            "rss_warm_kib": rss_warm, "rss_end_kib": rss_end, "rss_growth": growth,
            "target_rss_growth": TARGET_RSS_GROWTH, "server_alive": alive,
            "outcomes": outcomes}


def load_table(s: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(s["statuses"].items()))
    growth = s["rss_growth"]
    return ("| requests | statuses | p50 / p95 of 200s | RSS after warm-up → end | growth "
            "| target |\n|---|---|---|---|---|---|\n"
            f"| {s['requests']} ({s['threads']} threads × {s['per_thread']}) | {statuses}"
            f"{meets(s['unexpected'], lambda v: v == 0)} "
            f"| {fmt(s['p50_s'])} / {fmt(s['p95_s'])} s "
            f"| {fmt((s['rss_warm_kib'] or 0) / 1024, 0)} → "
            f"{fmt((s['rss_end_kib'] or 0) / 1024, 0)} MiB "
            f"| {fmt(None if growth is None else 100 * growth, 1, ' %')}"
            f"{meets(growth, lambda v: v < TARGET_RSS_GROWTH)} "
            f"| < {TARGET_RSS_GROWTH * 100:.0f} %, only 200 and 429 |")
