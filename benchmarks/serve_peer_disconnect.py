"""The `disconnect` part of benchmarks/serve_peer.py: a long stream closed after a few chunks,
repeated; how soon the engine is free again and the next request's first token, and its
table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import openai
from serve_peer_requests import PROBE_PROMPT, request_body, stream_chat
from serve_peer_servers import Server, client_for, settle, start_redraft, wait_idle
from serve_peer_stats import fmt, median, meets, progress

TARGET_FREE_S = 0.3
DISCONNECT_MAX_TOKENS = 512
DISCONNECT_CHUNKS = 5
DISCONNECT_PROMPT = ("Write a long story about a lighthouse keeper and the storm that changed "
                     "the coast. Describe every day of the week before the storm in detail.")


def disconnect_once(client: openai.OpenAI, server: Server) -> dict[str, Any]:
    body = request_body(DISCONNECT_PROMPT, DISCONNECT_MAX_TOKENS, None, None, False)
    reply = stream_chat(client, body, peer=False, stop_after_chunks=DISCONNECT_CHUNKS)
    closed_at = time.perf_counter()
    free_s = wait_idle(server)
    t1 = time.perf_counter()
    follow = stream_chat(client, request_body(PROBE_PROMPT, 1, None, None, False), peer=False)
    follow_first = None if follow.ttft_s is None else (t1 - closed_at) + follow.ttft_s
    settle(server)
    return {"chunks_read": reply.content_chunks,
            "finished_before_close": reply.finish_reason is not None,
            "free_s": free_s, "follow_up_first_token_after_close_s": follow_first}


def run_disconnect(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    with start_redraft(args, logs, DISCONNECT_MAX_TOKENS) as red:
        client = client_for(red)
        stream_chat(client, request_body(PROBE_PROMPT, 1, None, None, False), peer=False)
        settle(red)
        rows = []
        for rep in range(args.disconnect_repeat):
            rows.append(disconnect_once(client, red))
            progress(f"disconnect {rep + 1}/{args.disconnect_repeat}: free after "
                     f"{fmt(rows[-1]['free_s'], 3)} s")
    free = [r["free_s"] for r in rows if r["free_s"] is not None]
    follow = [r["follow_up_first_token_after_close_s"] for r in rows]
    return {"repeats": len(rows), "max_tokens": DISCONNECT_MAX_TOKENS,
            "chunks_before_close": DISCONNECT_CHUNKS,
            "free_s": {"median": median(free), "max": max(free, default=None)},
            "follow_up_first_token_s": {"median": median(follow),
                                        "max": max((v for v in follow if v is not None),
                                                   default=None)},
            "never_free": len(rows) - len(free),
            "finished_before_close": sum(r["finished_before_close"] for r in rows),
            "target_s": TARGET_FREE_S, "rows": rows}


def disconnect_table(s: dict[str, Any]) -> str:
    free, follow = s["free_s"], s["follow_up_first_token_s"]
    return ("| repeats | engine free after close: median / max | target "
            "| next request's first token after close: median / max | never free "
            "| finished before close |\n|---|---|---|---|---|---|\n"
            f"| {s['repeats']} | {fmt(free['median'], 3)} / {fmt(free['max'], 3)} s"
            f"{meets(free['max'], lambda v: v <= TARGET_FREE_S)} | ≤ {TARGET_FREE_S} s "
            f"| {fmt(follow['median'], 3)} / {fmt(follow['max'], 3)} s "
            f"| {s['never_free']} | {s['finished_before_close']} |")
