"""Rendering of the held/rewritten diff, the stats line and the size of a confirmation's change
(pure functions, no model)."""

from io import StringIO

import pytest
from redraft_engine import HELD, REWRITTEN, Result, Span, Stats, Timings
from rich.console import Console

from redraft_cli.outcome import Mode
from redraft_cli.render import diff_plain, diff_text, stats_line
from redraft_cli.run_cmd import output_label
from redraft_cli.watch_stream import tokens_changed

SPANS = [
    Span(HELD, 0, 8, "The cat sat on the mat, a", 0, 8),
    Span(REWRITTEN, 8, 12, " rainy day in Paris"),
    Span(HELD, 12, 22, ", 3 March 2021.", 12, 22),
]


def test_plain_diff_marks_rewritten_spans():
    assert diff_plain(SPANS) == "The cat sat on the mat, a{+ rainy day in Paris+}, 3 March 2021."


def test_colour_off_rendering_through_a_console():
    out = StringIO()
    console = Console(file=out, color_system=None, width=200)
    console.print(diff_text(SPANS, color=False))
    assert out.getvalue() == "The cat sat on the mat, a{+ rainy day in Paris+}, 3 March 2021.\n"


def test_coloured_rendering_styles_each_kind():
    text = diff_text(SPANS, color=True)
    assert text.plain == "The cat sat on the mat, a rainy day in Paris, 3 March 2021."
    styles = [(text.plain[s.start : s.end], str(s.style)) for s in text.spans]
    assert styles == [
        ("The cat sat on the mat, a", "green"),
        (" rainy day in Paris", "bold yellow"),
        (", 3 March 2021.", "green"),
    ]


def test_stats_line_reports_held_reuse_and_time_saved():
    stats = Stats(emitted=40, held=30, prompt_reused=90, prompt_tokens=100, wall_s=1.5,
                  first_token_s=0.52, time=Timings(prefill=0.5))
    line = stats_line(Mode.REDRAFT, stats, serial_s_per_token=0.05)
    assert line == ("redraft · held 75% · 40 tokens · prompt 90/100 reused · first token 0.52 s"
                    " after start · 1.50 s · answer 1.00 s vs ~2.00 s fresh (saved +1.00 s)")
    assert "held" not in stats_line(Mode.FRESH, stats)


def test_stats_line_says_from_when_each_first_token_time_counts():
    stats = Stats(emitted=40, prompt_tokens=100, wall_s=1.5, first_token_s=0.12)
    assert "first token 0.12 s after start · 1.50 s" in stats_line(Mode.FRESH, stats)
    watched = stats_line(Mode.FRESH, stats, after_save=0.29)  # watch: since the save, too
    assert "first token 0.12 s after start (0.29 s after the save) · 1.50 s" in watched
    assert watched.count("first token") == 1


def test_stats_line_says_what_a_blend_reused_or_why_it_fell_back():
    blended = Stats(prompt_reused=10, prompt_shifted=80, prompt_tokens=100)
    assert "prompt 10/100 reused + 80 shifted (blend)" in stats_line(Mode.REDRAFT, blended)
    fell_back = Stats(prompt_tokens=100, blend_fallback="drift budget reached")
    assert "(blend fell back: drift budget reached)" in stats_line(Mode.REDRAFT, fell_back)


def test_serial_rate_counts_the_tokens_decoded_one_by_one():
    assert Stats(time=Timings(serial=0.5, serial_tokens=10)).serial_s_per_token == 0.05
    assert Stats(time=Timings(serial=0.0, serial_tokens=0)).serial_s_per_token is None


def test_outputs_are_named_like_sources_but_a_link_by_its_own_name(tmp_path):
    tmp_path = tmp_path.resolve()
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "real.md").write_text("answer\n")
    (root / "docs" / "link.md").symlink_to("real.md")
    assert output_label(root / "docs" / "link.md", root) == "docs/link.md"
    assert output_label(root / "out.md", root) == "out.md"
    assert output_label(tmp_path / "elsewhere.md", root) == str(tmp_path / "elsewhere.md")


def _answer(tokens: list[int], held: int = 0, rewritten: int = 0) -> Result:
    return Result(text="", tokens=tokens, spans=[], stats=Stats(held=held, rewritten=rewritten))


SHOWN = list(range(10))


@pytest.mark.parametrize("confirmed,changed", [
    (_answer(SHOWN, held=10), 0),                                   # confirmed as shown
    (_answer(SHOWN[:4], held=4), 6),                                # cut short: 6 gone
    (_answer(SHOWN[:4] + [50] * 6, held=4, rewritten=6), 6),        # the last 6 replaced
    (_answer(SHOWN[:4] + [50] * 16, held=4, rewritten=16), 16),     # the last 6 replaced by 16
    (_answer([]), 10),                                              # an empty answer
    # A confirmation that redrafted the previous answer: its held tokens are the previous
    # answer's, not the shown one's; only the token diff sees that one token came in front.
    (_answer([50, *SHOWN], held=0, rewritten=11), 1),
])
def test_a_confirmation_counts_what_it_wrote_or_dropped(confirmed, changed):
    assert tokens_changed(_answer(SHOWN), confirmed) == changed
