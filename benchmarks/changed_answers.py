"""List the answers that differ between two `redraft bench --json` files of the same suite and
model (first repeat of each arm), with their length (median over repeats), speed against
fresh and checks.

Run: python benchmarks/changed_answers.py benchmarks/results/smollm2-135m.json \
         benchmarks/out/smollm2-135m.json
Exit status 1 when any answer changed (0: byte-identical), so a refactor can be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ARMS = ("cold", "fresh", "exact", "tolerant", "blend")


def changes(before: dict, after: dict) -> tuple[list[str], int, list[str]]:
    """Markdown rows of the changed answers, the number compared, and the cases only one file
    has."""
    old_cases = {c["id"]: c for c in before["cases"]}
    rows, compared, unmatched = [], 0, []
    for case in after["cases"]:
        old = old_cases.pop(case["id"], None)
        if old is None:
            unmatched.append(case["id"])
            continue
        if old["old"]["text"] != case["old"]["text"]:
            rows.append(f"| `{case['id']}` | old answer | – | – | – | – |")
        for arm in ARMS:
            compared += 1
            a, b = old["arms"][arm], case["arms"][arm]
            if a["text"] == b["text"]:
                continue
            before_speed = old["speedup_vs_fresh"].get(arm)
            after_speed = case["speedup_vs_fresh"].get(arm)
            speed = (f"{before_speed:.2f}× → {after_speed:.2f}×"
                     if before_speed is not None and after_speed is not None else "–")
            checks = ("pass" if a["passed"] else "fail") + " → " + (
                "pass" if b["passed"] else "fail")
            rows.append(f"| `{case['id']}` | {arm} | {a['tokens']} → {b['tokens']} "
                        f"| {case['arms']['fresh']['tokens']} | {speed} | {checks} |")
    return rows, compared, unmatched + sorted(old_cases)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
    rows, compared, unmatched = changes(before, after)
    print(f"{len(rows)} of {compared} answers changed ({args.before} → {args.after})")
    if unmatched:
        print(f"in one file only: {', '.join(unmatched)}")
    if rows:
        print("\n| case | arm | tokens | fresh tokens | ÷ fresh | checks |")
        print("|---|---|---|---|---|---|")
        print("\n".join(rows))
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
