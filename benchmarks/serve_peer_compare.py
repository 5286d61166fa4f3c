"""The `compare` part of benchmarks/serve_peer.py: per edit case, arms alternating, the peer's
answer to `after` (its prompt cache warmed on `before`) against redraft's redraft of its own
old answer given as the prediction; servers restarted every repeat (and when one breaks down);
the checks that tell an attributable regression; the summary per category and its table."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from serve_peer_requests import (
    PROBE_PROMPT,
    Reply,
    peer_request,
    prompt_tokens,
    request_body,
    stream_chat,
)
from serve_peer_servers import Server, client_for, pause, settle, start_peer, start_redraft
from serve_peer_stats import fmt, median, meets, progress, spread

TARGET_SPEEDUP = {"doc_summary": 2.0, "fact_answer": 1.5, "code_review": 1.5}


@dataclass
class CaseRun:
    """One repeat of one case."""

    peer: Reply
    old: Reply
    predicted: Reply
    fresh: Reply
    order: list[str]


@dataclass
class CaseRecord:
    case: Any
    runs: list[CaseRun] = field(default_factory=list)


def peer_arm(client: openai.OpenAI, case: Any, max_tokens: int) -> Reply:
    peer_request(client, case.prompt(case.before), max_tokens)
    pause()
    return peer_request(client, case.prompt(case.after), max_tokens)


def redraft_arm(client: openai.OpenAI, server: Server, case: Any, max_tokens: int,
                settings: dict[str, str]) -> tuple[Reply, Reply, Reply]:
    """The old answer (on `before`), the timed redraft (on `after`, predicted) and the fresh
    answer (on `after`, untimed: its prompt is in the cache by then)."""
    old = stream_chat(client, request_body(case.prompt(case.before), max_tokens, None, None,
                                           False), peer=False)
    settle(server)
    after = case.prompt(case.after)
    predicted = stream_chat(client, request_body(after, max_tokens, old.text, settings, False),
                            peer=False)
    settle(server)
    fresh = stream_chat(client, request_body(after, max_tokens, None, None, False), peer=False)
    settle(server)
    return old, predicted, fresh


def run_compare(args: argparse.Namespace, cases: list[Any], logs: Path) -> dict[str, Any]:
    records = [CaseRecord(c) for c in cases]
    settings = {"rule": args.rule, "prompt_reuse": args.prompt_reuse}
    template: dict[str, Any] = {}
    failures: list[dict[str, Any]] = []
    for rep in range(args.repeat):
        pending = list(enumerate(records))
        while pending:
            with start_peer(args, logs) as peer, \
                    start_redraft(args, logs, args.max_tokens) as red:
                template = template or probe_templates(peer, red)
                pending = compare_cases(args, rep, pending, peer, red, settings, failures)
    return {"prompt_tokens_of_probe": template, "server_failures": failures,
            **summarize_compare(records)}


def probe_templates(peer: Server, red: Server) -> dict[str, Any]:
    probe = {"prompt": PROBE_PROMPT, "peer": prompt_tokens(client_for(peer), True),
             "redraft": prompt_tokens(client_for(red), False)}
    settle(red)
    if probe["peer"] != probe["redraft"]:
        progress(f"warning: the servers render the chat differently: {probe['peer']} "
                 f"prompt tokens (peer) against {probe['redraft']} (redraft) for "
                 f"{PROBE_PROMPT!r}")
    return probe


def compare_cases(args: argparse.Namespace, rep: int, pending: list[tuple[int, CaseRecord]],
                  peer: Server, red: Server, settings: dict[str, str],
                  failures: list[dict[str, Any]]) -> list[tuple[int, CaseRecord]]:
    """Run `pending` cases on these servers; the cases left when a server breaks down (the
    case it broke on is recorded as a failure and skipped), to run on new servers."""
    peer_client, red_client = client_for(peer), client_for(red)
    for k, (i, record) in enumerate(pending):
        order = ["peer", "redraft"] if (i + rep) % 2 == 0 else ["redraft", "peer"]
        got: dict[str, Any] = {}
        try:
            for arm in order:
                if arm == "peer":
                    got["peer"] = peer_arm(peer_client, record.case, args.max_tokens)
                else:
                    got["redraft"] = redraft_arm(red_client, red, record.case,
                                                 args.max_tokens, settings)
                pause()
        except openai.APIConnectionError as exc:
            who = peer if next(arm for arm in order if arm not in got) == "peer" else red
            failures.append({"repeat": rep + 1, "case": record.case.id, "server": who.name,
                             "exit_code": who.proc.poll(), "error": str(exc),
                             "log_tail": who.log_tail(15)})
            progress(f"compare rep {rep + 1} case {record.case.id}: {who.name} failed "
                     f"({exc}; exit {who.proc.poll()}); skipped, servers restarted")
            return pending[k + 1:]
        old, predicted, fresh = got["redraft"]
        record.runs.append(CaseRun(got["peer"], old, predicted, fresh, order))
        progress(f"compare rep {rep + 1}/{args.repeat} case {i + 1} "
                 f"{record.case.id}: peer {got['peer'].e2e_s:.2f} s, redraft "
                 f"{predicted.e2e_s:.2f} s, held {fmt(predicted.held_fraction)}")
    return []


def case_result(record: CaseRecord) -> dict[str, Any]:
    from redraft_cli.bench.checks import attributable_checks, case_checks, regressions

    case, runs = record.case, record.runs
    peer_s = median([r.peer.e2e_s for r in runs])
    red_s = median([r.predicted.e2e_s for r in runs])
    checks = case_checks(case.expect, case.forbid)
    old_text = runs[0].old.text
    attributable = attributable_checks(checks, case.before, old_text)
    predicted = [r.predicted.text for r in runs]
    lost = set(regressions(attributable, [r.peer.text for r in runs], predicted)) & set(
        regressions(attributable, [r.fresh.text for r in runs], predicted))
    return {
        "id": case.id, "category": case.category,
        "speedup": peer_s / red_s if peer_s and red_s else None,
        "peer_e2e_s": peer_s, "redraft_e2e_s": red_s,
        "peer_ttft_s": median([r.peer.ttft_s for r in runs]),
        "redraft_ttft_s": median([r.predicted.ttft_s for r in runs]),
        "held_fraction": median([r.predicted.held_fraction for r in runs]),
        "peer_tokens": [r.peer.completion_tokens for r in runs],
        "redraft_tokens": [r.predicted.completion_tokens for r in runs],
        "attributable_regressions": sorted(str(c) for c in lost),
        "predicted_differs_from_fresh": any(r.predicted.text != r.fresh.text for r in runs),
        "peer_same_as_redraft_fresh": all(r.peer.text == r.fresh.text for r in runs),
        "old_answer_varied": len({r.old.text for r in runs}) > 1,
        "runs": [{"order": r.order, "peer": r.peer.summary(), "old": r.old.summary(),
                  "predicted": r.predicted.summary(), "fresh": r.fresh.summary(),
                  "texts": {"peer": r.peer.text, "old": r.old.text,
                            "predicted": r.predicted.text, "fresh": r.fresh.text}}
                 for r in runs],
    }


def summarize_compare(records: list[CaseRecord]) -> dict[str, Any]:
    results = [case_result(r) for r in records if r.runs]
    by_category: dict[str, Any] = {}
    for category in sorted({r["category"] for r in results}):
        rows = [r for r in results if r["category"] == category]
        by_category[category] = {
            "cases": len(rows),
            "speedup": spread([r["speedup"] for r in rows if r["speedup"] is not None]),
            "target": TARGET_SPEEDUP.get(category),
            "peer_ttft_s": median([r["peer_ttft_s"] for r in rows]),
            "redraft_ttft_s": median([r["redraft_ttft_s"] for r in rows]),
            "held_fraction": median([r["held_fraction"] for r in rows]),
            "attributable_regressions": sum(len(r["attributable_regressions"]) for r in rows),
            "predicted_differs_from_fresh": sum(r["predicted_differs_from_fresh"] for r in rows),
            "peer_same_as_redraft_fresh": sum(r["peer_same_as_redraft_fresh"] for r in rows),
        }
    return {"by_category": by_category, "cases": results}


def compare_table(summary: dict[str, Any]) -> str:
    lines = ["| category | cases | peer ÷ redraft, end to end (min–max) | target "
             "| TTFT peer / redraft s | held | attributable regressions | predicted ≠ fresh "
             "| peer = redraft fresh |",
             "|---|---|---|---|---|---|---|---|---|"]
    for category, s in summary["by_category"].items():
        sp, target = s["speedup"], s["target"]
        mark = meets(sp["median"], lambda v, t=target: t is None or v >= t)
        lines.append(
            f"| {category} | {s['cases']} | {fmt(sp['median'], suffix='×')}{mark} "
            f"({fmt(sp['min'])}–{fmt(sp['max'])}) | ≥{fmt(target, 1)}× "
            f"| {fmt(s['peer_ttft_s'], 3)} / {fmt(s['redraft_ttft_s'], 3)} "
            f"| {fmt(s['held_fraction'])} | {s['attributable_regressions']} (target 0)"
            f"{meets(s['attributable_regressions'], lambda v: v == 0)} "
            f"| {s['predicted_differs_from_fresh']}/{s['cases']} "
            f"| {s['peer_same_as_redraft_fresh']}/{s['cases']} |")
    probe = summary.get("prompt_tokens_of_probe") or {}
    if probe.get("peer") != probe.get("redraft"):
        lines.append(f"\nchat templates differ: {probe.get('peer')} prompt tokens (peer) "
                     f"against {probe.get('redraft')} (redraft) for {probe.get('prompt')!r}")
    lost = [(r["id"], r["attributable_regressions"]) for r in summary["cases"]
            if r["attributable_regressions"]]
    for case_id, checks in lost:
        lines.append(f"\nregression in `{case_id}`: {', '.join(checks)}")
    return "\n".join(lines)
