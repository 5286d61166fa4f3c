"""Pure rendering: spans to a styled diff, stats to one line. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text

HELD_STYLE = "green"
REWRITTEN_STYLE = "bold yellow"
REWRITTEN_OPEN = "{+"
REWRITTEN_CLOSE = "+}"


def diff_plain(spans: Iterable[Any]) -> str:
    """Held text as is, rewritten text between {+ and +} (for colour-off output)."""
    parts = []
    for span in spans:
        if span.kind == "held":
            parts.append(span.text)
        else:
            parts.append(f"{REWRITTEN_OPEN}{span.text}{REWRITTEN_CLOSE}")
    return "".join(parts)


def diff_text(spans: Iterable[Any], *, color: bool = True) -> Text:
    """The answer as Rich Text: held spans in one style, rewritten spans in another.

    Without colour, rewritten spans are marked with {+ +} instead, so the diff survives.
    """
    spans = list(spans)
    if not color:
        return Text(diff_plain(spans))
    text = Text()
    for span in spans:
        text.append(span.text, style=HELD_STYLE if span.kind == "held" else REWRITTEN_STYLE)
    return text


def fresh_estimate_s(emitted: int, serial_s_per_token: float | None) -> float | None:
    """What decoding `emitted` tokens one by one would take at the measured serial rate."""
    if serial_s_per_token is None:
        return None
    return emitted * serial_s_per_token


def stats_line(mode: str, stats: dict[str, Any], serial_s_per_token: float | None = None) -> str:
    """One line: held %, tokens, prompt reuse, time, and time saved against a fresh decode."""
    emitted = stats.get("emitted", 0)
    parts = [mode]
    if mode == "redraft":
        parts.append(f"held {stats.get('held_fraction', 0.0):.0%}")
    parts.append(f"{emitted} tokens")
    parts.append(f"prompt {stats.get('prompt_reused', 0)}/{stats.get('prompt_tokens', 0)} reused")
    parts.append(f"{stats.get('wall_s', 0.0):.2f} s")
    estimate = fresh_estimate_s(emitted, serial_s_per_token)
    if mode == "redraft" and estimate is not None:
        answer_s = stats.get("answer_s", 0.0)
        parts.append(f"answer {answer_s:.2f} s vs ~{estimate:.2f} s fresh "
                     f"(saved {estimate - answer_s:+.2f} s)")
    return " · ".join(parts)


def serial_rate(stats: dict[str, Any]) -> float | None:
    """Seconds per serially decoded token in a call, if it decoded any serially."""
    serial_s = stats.get("time", {}).get("serial", 0.0)
    rewritten = stats.get("rewritten", 0)
    if serial_s <= 0 or rewritten <= 0:
        return None
    return serial_s / rewritten
