"""What `redraft watch` draws on its console: an answer as it streams (live, where the terminal
allows), each complete answer under its file's rule with its stats line, and what a
confirmation changed. The JSON events are not here: watch.py emits them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.markup import escape

from .outcome import Mode
from .render import diff_text, stats_line, style_of
from .watch_stream import consume_unless

if TYPE_CHECKING:
    from redraft_engine import Result, Span, Stats, Stream, TokenEvent
    from rich.console import Console

_LIVE_EVERY = 4  # tokens between refreshes of the live view


def consume_live(
    console: Console, stream: Stream, superseded: Callable[[], bool],
    on_event: Callable[[TokenEvent], None],
) -> Result:
    """`consume_unless`, the answer drawn as it streams (held and rewritten text styled,
    refreshed every few tokens, cleared at the end); `on_event` sees each event first."""
    from rich.live import Live
    from rich.text import Text

    shown = Text()
    with Live(console=console, transient=True, auto_refresh=False) as live:

        def show(event: TokenEvent) -> None:
            on_event(event)
            shown.append(event.text, style=style_of(event.kind))
            if (event.index + 1) % _LIVE_EVERY == 0:
                live.update(shown, refresh=True)

        return consume_unless(stream, superseded, show)


def show_answer(
    console: Console, title: str, mode: Mode, text: str, stats: Stats | None,
    spans: list[Span] | None, serial_s_per_token: float | None, after_save: float | None,
) -> None:
    """A rule titled `title`, the answer (a redraft as its held/rewritten diff), and for a
    decoded answer its stats line."""
    console.rule(escape(title), style="dim")
    if spans is not None and mode is Mode.REDRAFT:
        color = console.is_terminal and not console.no_color
        console.print(diff_text(spans, color=color))
    else:
        console.print(text, markup=False)
    if stats is not None and mode.decoded:
        line = stats_line(mode, stats, serial_s_per_token, after_save=after_save)
        console.print(line, style="dim", markup=False)


def show_confirmation(console: Console, shown: Result, confirmed: Result, changed: int) -> None:
    """`confirmed`, or how many tokens the confirmation changed and its diff."""
    if confirmed.tokens == shown.tokens:
        console.print("confirmed", style="dim", markup=False)
        return
    how = " (over the exact prompt the answer opens otherwise: redrafted again)" \
        if confirmed.stats.confirm_redrafted else ""
    console.print(f"confirmed · {changed} tokens changed{how}", style="dim", markup=False)
    color = console.is_terminal and not console.no_color
    console.print(diff_text(confirmed.spans, color=color))
