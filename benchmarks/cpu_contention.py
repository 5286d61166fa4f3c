"""How redraft's decoding degrades beside other CPU work, per OpenMP wait setting.

For each setting, a fresh process loads the default model and times greedy generations
(prompt cached, so decoding dominates; the caller's wall time, so a wait for the decode lock
counts) alone, then beside a CPU hog: one busy-looping process per core, or with --pair a
second process decoding with the same setting. The hog takes about half of the CPU on this
machine's 2 cores, so a graceful slowdown is about 2x. Run it alone on the machine.

    python benchmarks/cpu_contention.py [--tokens 96] [--repeats 3] [--pair] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

LOCK = os.path.join(tempfile.gettempdir(), "redraft-bench-decode.lock")
SETTINGS = {
    "libgomp default spin": {"GOMP_SPINCOUNT": "300000"},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
    "redraft (spin 20000)": {},
    "GOMP_SPINCOUNT=2000": {"GOMP_SPINCOUNT": "2000"},
    "1 thread": {"REDRAFT_BENCH_THREADS": "1"},
    "redraft + decode turns": {"REDRAFT_BENCH_LOCK": LOCK},
}
PROMPT = "Write a long story about a lighthouse keeper and the storm that changed the coast."

CHILD = r"""
import json, os, sys, time
from redraft_engine import Engine
threads = int(os.environ.get("REDRAFT_BENCH_THREADS") or os.cpu_count())
engine = Engine(n_threads=threads, window=1,
                decode_lock=os.environ.get("REDRAFT_BENCH_LOCK") or None)
tokens, repeats = int(sys.argv[1]), int(sys.argv[2])
engine.generate(PROMPT, max_tokens=4)  # the prompt is cached from here on
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()  # the caller's view: a wait for the decode lock counts
        result = engine.generate(PROMPT, max_tokens=tokens)
        times.append((time.perf_counter() - t0) / max(result.stats.emitted, 1))
    print(json.dumps(times), flush=True)
""".replace("PROMPT", repr(PROMPT))


def hog(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def decoding_hog(stop_at: float) -> None:
    """Another process decoding with the same model and settings: two redraft processes."""
    from redraft_engine import Engine

    engine = Engine(n_threads=os.cpu_count(), window=1,
                    decode_lock=os.environ.get("REDRAFT_BENCH_LOCK") or None)
    while time.monotonic() < stop_at:
        engine.generate(PROMPT, max_tokens=32)


def measure(
    env_extra: dict[str, str], tokens: int, repeats: int, pair: bool = False
) -> tuple[list[float], list[float]]:
    env = {**os.environ, **env_extra}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tokens), str(repeats)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    assert child.stdout.readline().strip() == "ready"
    child.stdin.write("alone\n")
    child.stdin.flush()
    alone = json.loads(child.stdout.readline())
    if pair:
        os.environ.update(env_extra)  # the second decoder runs with the same setting
        hogs = [multiprocessing.Process(target=decoding_hog, args=(time.monotonic() + 600,))]
    else:
        hogs = [multiprocessing.Process(target=hog, args=(time.monotonic() + 600,))
                for _ in range(os.cpu_count() or 1)]
    for h in hogs:
        h.start()
    time.sleep(3.0 if pair else 0.5)  # the second decoder loads its model first
    try:
        child.stdin.write("hog\n")
        child.stdin.flush()
        busy = json.loads(child.stdout.readline())
    finally:
        for h in hogs:
            h.terminate()
        child.stdin.close()
        child.wait()
    return alone, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="settings to run (default: all)")
    parser.add_argument("--pair", action="store_true",
                        help="beside a second redraft process decoding, not a busy loop")
    args = parser.parse_args()
    other = "beside 2nd" if args.pair else "beside hog"
    print(f"{'setting':<26} {'alone ms/tok':>13} {other:>11} {'slowdown':>9}")
    for name, extra in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        alone, busy = measure(extra, args.tokens, args.repeats, args.pair)
        a, b = statistics.median(alone) * 1000, statistics.median(busy) * 1000
        print(f"{name:<26} {a:13.1f} {b:11.1f} {b / a:8.1f}x   "
              f"(alone {min(alone) * 1000:.1f}-{max(alone) * 1000:.1f}, "
              f"hog {min(busy) * 1000:.1f}-{max(busy) * 1000:.1f})", flush=True)


if __name__ == "__main__":
    main()
