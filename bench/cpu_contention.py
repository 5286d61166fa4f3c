"""How redraft's decoding degrades beside other CPU work, per OpenMP wait setting.

For each setting, a fresh process loads the default model and times one greedy generation
(prompt cached, so only decoding counts) alone, then beside a CPU hog: one busy-looping
process per core. The hog takes about half of the CPU on this machine's 2 cores, so a
graceful slowdown is about 2x; spinning OpenMP threads that wait on each other make it far
worse. Run it alone on the machine.

    python bench/cpu_contention.py [--tokens 96] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "default": {},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"},
    "GOMP_SPINCOUNT=20000": {"GOMP_SPINCOUNT": "20000"},
    "GOMP_SPINCOUNT=2000": {"GOMP_SPINCOUNT": "2000"},
    "1 thread": {"REDRAFT_BENCH_THREADS": "1"},
}
PROMPT = "Write a long story about a lighthouse keeper and the storm that changed the coast."

CHILD = r"""
import json, os, sys, time
from redraft_engine import Engine
threads = int(os.environ.get("REDRAFT_BENCH_THREADS") or os.cpu_count())
engine = Engine(n_threads=threads, window=1)
tokens, repeats = int(sys.argv[1]), int(sys.argv[2])
engine.generate(PROMPT, max_tokens=4)  # the prompt is cached from here on
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(repeats):
        result = engine.generate(PROMPT, max_tokens=tokens)
        times.append(result.stats.answer_s / max(result.stats.emitted, 1))
    print(json.dumps(times), flush=True)
""".replace("PROMPT", repr(PROMPT))


def hog(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def measure(
    env_extra: dict[str, str], tokens: int, repeats: int
) -> tuple[list[float], list[float]]:
    env = {**os.environ, **env_extra}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tokens), str(repeats)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    assert child.stdout.readline().strip() == "ready"
    child.stdin.write("alone\n")
    child.stdin.flush()
    alone = json.loads(child.stdout.readline())
    hogs = [multiprocessing.Process(target=hog, args=(time.monotonic() + 600,))
            for _ in range(os.cpu_count() or 1)]
    for h in hogs:
        h.start()
    time.sleep(0.5)
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
    args = parser.parse_args()
    print(f"{'setting':<26} {'alone ms/tok':>13} {'beside hog':>11} {'slowdown':>9}")
    for name, extra in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        alone, busy = measure(extra, args.tokens, args.repeats)
        a, b = statistics.median(alone) * 1000, statistics.median(busy) * 1000
        print(f"{name:<26} {a:13.1f} {b:11.1f} {b / a:8.1f}x   "
              f"(alone {min(alone) * 1000:.1f}-{max(alone) * 1000:.1f}, "
              f"hog {min(busy) * 1000:.1f}-{max(busy) * 1000:.1f})", flush=True)


if __name__ == "__main__":
    main()
