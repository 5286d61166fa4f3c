"""Pure rendering: spans to a styled diff, stats to one line. No I/O here; Rich loads only for
the styled diff."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from redraft_engine import HELD, Span, SpanKind, Stats

from .outcome import Mode

if TYPE_CHECKING:
    from rich.text import Text

HELD_STYLE = "green"
REWRITTEN_STYLE = "bold yellow"
REWRITTEN_OPEN = "{+"
REWRITTEN_CLOSE = "+}"


def style_of(kind: SpanKind) -> str:
    return HELD_STYLE if kind == HELD else REWRITTEN_STYLE


def diff_plain(spans: Iterable[Span]) -> str:
    """Held text as is, rewritten text between {+ and +} (for colour-off output)."""
    return "".join(
        s.text if s.kind == HELD else f"{REWRITTEN_OPEN}{s.text}{REWRITTEN_CLOSE}" for s in spans
    )


def diff_text(spans: Iterable[Span], *, color: bool = True) -> Text:
    """The answer as Rich Text: held spans in one style, rewritten spans in another.

    Without colour, rewritten spans are marked with {+ +} instead, so the diff survives.
    """
    from rich.text import Text

    spans = list(spans)
    if not color:
        return Text(diff_plain(spans))
    text = Text()
    for span in spans:
        text.append(span.text, style=style_of(span.kind))
    return text


def stats_line(
    mode: Mode, stats: Stats, serial_s_per_token: float | None = None, *,
    after_save: float | None = None,
) -> str:
    """One line: held %, tokens, prompt reuse, time, and time saved against a fresh decode.

    The first token's time is counted from the start of the answer and, given `after_save`
    (`watch`), also from the save that asked for it."""
    parts = [mode.value]
    if mode is Mode.REDRAFT:
        parts.append(f"held {stats.held_fraction:.0%}")
    parts.append(f"{stats.emitted} tokens")
    prompt = f"prompt {stats.prompt_reused}/{stats.prompt_tokens} reused"
    if stats.prompt_shifted:
        prompt += f" + {stats.prompt_shifted} shifted (blend)"
    elif stats.blend_fallback:
        prompt += f" (blend fell back: {stats.blend_fallback})"
    parts.append(prompt)
    first = f"first token {stats.first_token_s:.2f} s after start"
    if after_save is not None:
        first += f" ({after_save:.2f} s after the save)"
    parts.append(first)
    parts.append(f"{stats.wall_s:.2f} s")
    if mode is Mode.REDRAFT and serial_s_per_token is not None:
        estimate = stats.emitted * serial_s_per_token
        parts.append(f"answer {stats.answer_s:.2f} s vs ~{estimate:.2f} s fresh "
                     f"(saved {estimate - stats.answer_s:+.2f} s)")
    return " · ".join(parts)
