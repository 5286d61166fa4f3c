"""Rich tables: one per case as it finishes, and the per-category summary at the end."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .arms import ARMS, REDRAFT_ARMS
from .results import OVERALL, CaseResult


def case_table(result: CaseResult) -> Table:
    labels = ", ".join(escape(f"{v}") for k, v in result.labels.items() if k != "canary")
    if result.labels.get("canary"):
        labels += ", canary"
    details = escape(result.category) + (", " + labels if labels else "")
    table = Table(
        title=f"{escape(result.id)}  [dim]{details}[/]",
        title_justify="left",
    )
    for header in ("arm", "wall s", "prompt s", "answer s", "tokens", "ms/tok", "held",
                   "vs fresh", "vs cold", "sim", "checks"):
        table.add_column(header, justify="left" if header in ("arm", "checks") else "right")
    for arm in ARMS:
        r = result.arms[arm]
        table.add_row(
            arm + ("" if r.stable else " [yellow]~[/]"),
            f"{r.wall_s:.2f}", f"{r.prompt_s:.2f}", f"{r.answer_s:.2f}", str(r.tokens),
            _ms(r.s_per_token),
            f"{r.held_fraction:.2f}" if arm in REDRAFT_ARMS else "",
            _times(result.speedup(arm, "fresh")) if arm in REDRAFT_ARMS else "",
            _times(result.speedup(arm, "cold")) if arm != "cold" else "",
            f"{r.similarity:.2f}" if arm != "fresh" else "",
            _checks(result, arm),
        )
    return table


def _checks(result: CaseResult, arm: str) -> str:
    r = result.arms[arm]
    if r.passed:
        return "[green]pass[/]"
    text = "fail " + escape(" ".join(r.failed))
    if arm in REDRAFT_ARMS and result.regressed[arm]:
        return f"[bold red]{text} REGRESSION[/]"
    if arm in REDRAFT_ARMS and result.strict_regressed[arm]:
        return f"[red]{text} (strict only)[/]"
    return f"[yellow]{text}[/]"


def summary_tables(summary: dict[str, dict[str, Any]]) -> list[Table]:
    speed = Table(
        title="Speedup: baseline wall time / arm wall time, end to end "
        "(answer side only in brackets); medians over cases",
        title_justify="left",
    )
    for header in ("category", "cases", "exact ÷ fresh", "tolerant ÷ fresh", "blend ÷ fresh",
                   "fresh ÷ cold", "tolerant ÷ cold", "blend ÷ cold", "held e/t/b"):
        speed.add_column(header, justify="left" if header == "category" else "right")
    work = Table(
        title="Work and quality (medians): answer ms per emitted token, its speedup against "
        "fresh (equal work), tokens emitted, texts identical to fresh; regressions (cases)",
        title_justify="left",
    )
    for header in ("category", "ms/tok c/f/e/t/b", "per-tok ÷ fresh e/t/b", "tokens c/f/e/t/b",
                   "same as fresh c/e/t/b", "regressions", "strict",
                   "by arm e/t/b (attr, strict)", "at a coin flip e/t/b", "cold"):
        work.add_column(header, justify="left" if header == "category" else "right")
    prompt = Table(
        title="Prompt side (medians): fresh prompt time / arm prompt time, and the share of "
        "prompt tokens decoded (blend keeps the KV past the edit, shifted)",
        title_justify="left",
    )
    for header in ("category", "prompt ÷ fresh e/t/b", "decoded share c/f/e/t/b"):
        prompt.add_column(header, justify="left" if header == "category" else "right")
    for name, s in summary.items():
        label = f"[bold]{name}[/]" if name == OVERALL else name
        vf, vc = s["median_speedup_vs_fresh"], s["median_speedup_vs_cold"]
        af, ac = s["median_answer_speedup_vs_fresh"], s["median_answer_speedup_vs_cold"]
        held = s["median_held_fraction"]
        speed.add_row(
            label, str(s["cases"]),
            _pair(vf["exact"], af["exact"]), _pair(vf["tolerant"], af["tolerant"]),
            _pair(vf["blend"], af["blend"]),
            _pair(vc["fresh"], ac["fresh"]), _pair(vc["tolerant"], ac["tolerant"]),
            _pair(vc["blend"], ac["blend"]),
            "/".join(_fraction(held[a]) for a in REDRAFT_ARMS),
        )
        pf, share = s["median_prompt_speedup_vs_fresh"], s["median_recomputed_share"]
        prompt.add_row(
            label, "/".join(_times(pf[a]) for a in REDRAFT_ARMS),
            "/".join(_fraction(share[a]) for a in ARMS),
        )
        spt, tok, same = s["median_answer_s_per_token"], s["median_tokens"], s["identical_to_fresh"]
        ptf = s["median_per_token_speedup_vs_fresh"]
        regs, strict = s["regressions"], s["strict_regressions"]
        ra, sa = s["regressions_by_arm"], s["strict_regressions_by_arm"]
        coin = s.get("regressions_at_coin_flip_by_arm")
        work.add_row(
            label,
            "/".join(_ms(spt[a]) for a in ARMS),
            "/".join(_times(ptf[a]) for a in REDRAFT_ARMS),
            "/".join(_num(tok[a]) for a in ARMS),
            "/".join(str(same[a]) for a in ("cold", *REDRAFT_ARMS)),
            f"[bold red]{regs}[/]" if regs else "0",
            f"[red]{strict}[/]" if strict else "0",
            "/".join(str(ra[a]) for a in REDRAFT_ARMS) + ", "
            + "/".join(str(sa[a]) for a in REDRAFT_ARMS),
            "/".join(str(coin[a]) for a in REDRAFT_ARMS) if coin else "-",
            str(s.get("cold_regressions", "-")),
        )
    tables = [speed, prompt, work]
    for extra in (tail_table(summary), stability_table(summary)):
        if extra is not None:
            tables.append(extra)
    return tables


def tail_table(summary: dict[str, dict[str, Any]]) -> Table | None:
    """Over all cases, per redraft arm: the slowest tenth, the slowest case, the five slowest."""
    tails = summary.get(OVERALL, {}).get("slow_tail")
    if not tails:
        return None
    table = Table(title="The slow tail over all cases: arm ÷ fresh", title_justify="left")
    for header in ("arm", "slowest tenth at most", "min", "slowest five"):
        table.add_column(header, justify="right" if header in ("min", "slowest tenth at most")
                         else "left")
    for arm, tail in tails.items():
        if tail is not None:
            table.add_row(arm, _times(tail["tenth"]), _times(tail["min"]), ", ".join(
                f"{s['id']} {_times(s['speedup'])}" for s in tail["slowest"]))
    return table


def stability_table(summary: dict[str, dict[str, Any]]) -> Table | None:
    """The tolerant arm on typo, whitespace and punctuation edits, per category."""
    rows = [(name, s["stability"]) for name, s in summary.items() if s.get("stability")]
    if not rows:
        return None
    table = Table(
        title="Stability of the tolerant arm on typo, whitespace and punctuation edits: held "
        "fraction, and answers whose words changed only where the document's did",
        title_justify="left",
    )
    for header in ("category", "cases", "median held", "min held", "empty answers",
                   "unchanged apart from edit"):
        table.add_column(header, justify="left" if header == "category" else "right")
    for name, st in rows:
        table.add_row(
            f"[bold]{name}[/]" if name == OVERALL else name, str(st["cases"]),
            _fraction(st["median_held_fraction"]), _fraction(st["min_held_fraction"]),
            str(st.get("empty_answers", 0)),
            f"{st['unchanged_apart_from_edit']} / {st['cases']}",
        )
    return table


def departure_table(results: list[CaseResult], noise: float | None) -> Table | None:
    """Each attributable regression (and each cold one), with where the arm's answer left
    fresh's and the margins both had chosen their token by there."""
    rows = [(r, arm, r.regressed[arm]) for r in results for arm in REDRAFT_ARMS
            if r.regressed[arm]]
    rows += [(r, "cold", r.cold_regressed) for r in results if r.cold_regressed]
    if not rows:
        return None
    table = Table(
        title="Regressions: the answer token where the arm left fresh's, and the margins "
        "(logits) fresh and the arm chose their tokens by there; a coin flip is a fresh "
        "margin within the near-tie noise" + ("" if noise is None else f" ({noise:.2f})"),
        title_justify="left",
    )
    for header in ("case", "arm", "checks", "left at", "fresh margin", "arm margin",
                   "coin flip"):
        table.add_column(header, justify="right" if "margin" in header or header == "left at"
                         else "left")
    for r, arm, checks in rows:
        left = r.arms[arm].departure
        table.add_row(
            escape(r.id), arm, escape(" ".join(checks)),
            "-" if left is None else str(left.index),
            _margin(None if left is None else left.fresh_margin),
            _margin(None if left is None else left.arm_margin),
            "-" if noise is None or left is None else
            ("yes" if left.at_coin_flip(noise) else "no"),
        )
    return table


def print_summary(console: Console, summary: dict[str, dict[str, Any]], footer: str,
                  extra: list[Table] | None = None) -> None:
    for table in [*summary_tables(summary), *(extra or [])]:
        console.print(table)
    console.print(footer)


def _margin(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pair(wall: float | None, answer: float | None) -> str:
    return f"{_times(wall)} ({_times(answer)})"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
