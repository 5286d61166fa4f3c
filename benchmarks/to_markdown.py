"""Print the summary of a `redraft bench --json` file as Markdown tables (for the docs).

Run: python benchmarks/to_markdown.py benchmarks/results/smollm2-135m.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from redraft_cli.bench.departure import Departure
from redraft_cli.bench.tail import slow_tail


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def fraction(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def render(doc: dict) -> str:
    settings = doc["settings"]
    noise = settings.get("noise")
    lines = [
        f"Model `{doc['model']}` ({doc['model_info']['description']}); {doc['machine']}; "
        f"{doc['date'][:10]}; {len(doc['cases'])} cases × {settings['repeat']} repeats, "
        f"max {settings['max_tokens']} tokens; bench wall time {doc['wall_s'] / 60:.0f} min"
        + ("." if noise is None else f"; near-tie noise {noise:.2f} logits"
           + (f", opening {settings['start_probation']} tokens."
              if "start_probation" in settings else ".")),
        "",
        "| category | cases | tolerant ÷ fresh | exact ÷ fresh | blend ÷ fresh | tolerant ÷ cold "
        "| fresh ÷ cold | tolerant answer-side ÷ fresh | blend prompt-side ÷ fresh "
        "| held (tolerant / exact / blend) | regressions (attr. / strict) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in doc["summary"].items():
        vf, vc = s["median_speedup_vs_fresh"], s["median_speedup_vs_cold"]
        af, held = s["median_answer_speedup_vs_fresh"], s["median_held_fraction"]
        pf = s.get("median_prompt_speedup_vs_fresh", {})
        label = f"**{name}**" if name == "all" else name
        lines.append(
            f"| {label} | {s['cases']} | {times(vf['tolerant'])} | {times(vf['exact'])} "
            f"| {times(vf.get('blend'))} | {times(vc['tolerant'])} | {times(vc['fresh'])} "
            f"| {times(af['tolerant'])} | {times(pf.get('blend'))} "
            f"| {fraction(held['tolerant'])} / {fraction(held['exact'])} "
            f"/ {fraction(held.get('blend'))} | {s['regressions']} / {s['strict_regressions']} |"
        )
    stable = [(name, s["stability"]) for name, s in doc["summary"].items() if s.get("stability")]
    if stable:
        lines += [
            "",
            "Stability of the tolerant arm on typo, whitespace and punctuation edits:",
            "",
            "| category | cases | median held | min held | empty answers "
            "| unchanged apart from the edit |",
            "|---|---|---|---|---|---|",
        ]
        for name, st in stable:
            label = f"**{name}**" if name == "all" else name
            lines.append(
                f"| {label} | {st['cases']} | {fraction(st['median_held_fraction'])} "
                f"| {fraction(st['min_held_fraction'])} | {st.get('empty_answers', 0)} "
                f"| {st['unchanged_apart_from_edit']} / {st['cases']} |"
            )
    return "\n".join(lines + tail_lines(doc) + departure_lines(doc))


def tail_lines(doc: dict) -> list[str]:
    """The slow tail per redraft arm over every case of the file (older files included)."""
    lines = ["", "The slow tail (arm ÷ fresh over all cases):", "",
             "| arm | slowest tenth at most | min | slowest five |", "|---|---|---|---|"]
    for arm in ("exact", "tolerant", "blend"):
        tail = slow_tail({c["id"]: c["speedup_vs_fresh"].get(arm) for c in doc["cases"]})
        if tail is not None:
            slowest = ", ".join(f"`{s['id']}` {times(s['speedup'])}" for s in tail["slowest"])
            lines.append(f"| {arm} | {times(tail['tenth'])} | {times(tail['min'])} | {slowest} |")
    return lines


def attributable(case: dict, arm: str) -> list[str]:
    """The arm's regressed checks that cold generation passes (files written before the bench
    left those out themselves included)."""
    cold = set(case.get("cold_regressed_checks", ()))
    return [c for c in case["regressed_checks"].get(arm, ()) if c not in cold]


def departure_lines(doc: dict) -> list[str]:
    """Where each arm's answers left fresh's (runs that recorded it): how many left, how many
    at a token fresh chose within the near-tie noise (a coin flip), and the regressions."""
    noise = doc["settings"].get("noise")
    cases = doc["cases"]
    if noise is None or not any("departure" in c["arms"]["cold"] for c in cases):
        return []
    lines = [
        "",
        f"Where answers left fresh generation's (first repeat; a coin flip is a token fresh "
        f"chose by at most the noise, {noise:.2f} logits):",
        "",
        "| arm | left fresh's answer | at a coin flip | in the first 2 tokens "
        "| attributable regressions (at a coin flip) |",
        "|---|---|---|---|---|",
    ]
    for arm in ("cold", "exact", "tolerant", "blend"):
        left = [(c, Departure(**c["arms"][arm]["departure"])) for c in cases
                if c["arms"][arm].get("departure")]
        coin = [c["id"] for c, d in left if d.at_coin_flip(noise)]
        regressed = [c for c in cases if (c.get("cold_regressed_checks") if arm == "cold"
                                           else attributable(c, arm))]
        lines.append(
            f"| {arm} | {len(left)} / {len(cases)} | {len(coin)} "
            f"| {sum(1 for _, d in left if d.index < 2)} "
            f"| {len(regressed)} ({sum(1 for c in regressed if c['id'] in coin)}) |"
        )
    return lines


def main() -> None:
    for name in sys.argv[1:]:
        print(render(json.loads(Path(name).read_text())))
        print()


if __name__ == "__main__":
    main()
