"""Time from a save to the first answer token in `redraft watch`, exact prompt reuse against blend.

A `redraft watch --json` subprocess watches one document of the suite. The script saves the
case's `after` and `before` texts in turn (an edit at the start of the document each time),
waits for the answer, and, with blend, for the background confirmation, so that every save
finds an idle watcher as a user's would. It reads `save_to_first_token_s` from each answer
event. The two modes run in separate watchers, one after the other (never two model processes
at once), alternating their order between rounds.

Run: python benchmarks/watch_latency.py [--case doc-kestrel-typo-start] [--rounds 2] [--saves 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
SUITE = HERE.parent / "cases"
MODES = ("exact", "blend")
EVENT_TIMEOUT_S = 600


def load_case(case_id: str) -> dict:
    for suite_file in sorted(SUITE.glob("*.json")):
        data = json.loads(suite_file.read_text())
        for case in data["cases"] if isinstance(data, dict) else data:
            if case["id"] == case_id:
                return case
    sys.exit(f"no case {case_id!r} in {SUITE}")


class WatchProcess:
    def __init__(self, folder: Path, doc: str, mode: str, max_tokens: int, model: str | None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("REDRAFT_")}
        env["REDRAFT_MAX_TOKENS"] = str(max_tokens)
        args = [sys.executable, "-m", "redraft_cli", "watch", doc, "--task", "summarize",
                "--prompt-reuse", mode, "--json"]
        if model:
            args += ["--model", model]
        self.proc = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_event(self, *kinds: str) -> dict:
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                sys.exit(f"no {kinds} event; stderr: {stderr}")
            event = json.loads(line)
            if event["event"] in kinds:
                return event

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_mode(case: dict, mode: str, saves: int, max_tokens: int, model: str | None) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="redraft-latency-") as tmp:
        folder = Path(tmp)
        doc = folder / "doc.md"
        doc.write_text(case["before"])
        watcher = WatchProcess(folder, doc.name, mode, max_tokens, model)
        try:
            watcher.next_event("answer")
            samples = []
            for turn in range(saves):
                time.sleep(0.2)  # let the mtime of the save differ from the previous one
                doc.write_text(case["after"] if turn % 2 == 0 else case["before"])
                answer = watcher.next_event("answer")
                stats = answer.get("stats") or {}
                confirmed = watcher.next_event("confirmed") if mode == "blend" else None
                samples.append({
                    "mode": mode, "save_to_first_token_s": answer["save_to_first_token_s"],
                    "first_token_s": stats.get("first_token_s"),
                    "prompt_reused": stats.get("prompt_reused"),
                    "prompt_shifted": stats.get("prompt_shifted"),
                    "prompt_recomputed": stats.get("prompt_recomputed"),
                    "blend_fallback": stats.get("blend_fallback"),
                    "confirmed_changed_tokens": confirmed and confirmed["changed_tokens"],
                })
            return samples
        finally:
            watcher.close()


def spread(values: list[float]) -> str:
    median = statistics.median(values)
    return f"median {median:.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="doc-kestrel-typo-start")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--saves", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    case = load_case(args.case)
    samples: list[dict] = []
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            got = run_mode(case, mode, args.saves, args.max_tokens, args.model)
            samples += got
            print(f"round {round_ + 1} {mode}: "
                  + ", ".join(f"{s['save_to_first_token_s']:.2f}" for s in got), flush=True)

    summary = {}
    for mode in MODES:
        times = [s["save_to_first_token_s"] for s in samples if s["mode"] == mode]
        summary[mode] = {"median_s": statistics.median(times), "min_s": min(times),
                         "max_s": max(times), "n": len(times)}
        print(f"{mode:6} save → first token: {spread(times)}, n={len(times)}")
    ratio = summary["exact"]["median_s"] / summary["blend"]["median_s"]
    print(f"exact ÷ blend (medians): {ratio:.2f}×")
    if args.json:
        args.json.write_text(json.dumps({
            "case": args.case, "chars": len(case["before"]), "rounds": args.rounds,
            "saves": args.saves, "max_tokens": args.max_tokens, "model": args.model,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                       f"Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"), "samples": samples, "summary": summary,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
