"""The held-token policy, tested as the table it is (pure core, no model).

Each row of `EXPECTED` is checked by a real text edit of that kind, prepared by the tolerant
rule, at that place, for a plain, a copied and a fixed token of an old answer, at three gaps to
the argmax: a coin flip (inside the noise), a gap inside the band only, and a wide gap. A change
of any row of `policy.TABLE`, or of how an edit is classified, fails its row here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from redraft_engine.guards import Edit
from redraft_engine.policy import (
    ABLATIONS,
    CONTENT_OPENING_TOKENS,
    EXPERIMENTS,
    KEPT_WORDS,
    REJOIN_TOKENS,
    TABLE,
    EditKind,
    Place,
    Tier,
    table_text,
)
from redraft_engine.rules import TolerantRule

E, N, B = Tier.EXACT, Tier.NEAR_TIE, Tier.BAND
EOG = 0
KNOWN = {w: 1000 + i for i, w in enumerate(
    "Maria Okafor opened the new wing on March said mayor Glass it".split())}


def tokenize(text: str) -> list[int]:
    """Known words are one token; anything else is spelt out a character at a time."""
    ids: list[int] = []
    for word in text.split(" "):
        ids.extend([KNOWN[word]] if word in KNOWN else [ord(c) for c in word])
    return ids


DOC = "Maria Okafor opened the new wing on March 14, said the mayor."
EDITS = {
    EditKind.UNCHANGED: DOC,
    EditKind.SPACING: DOC.replace(" the new", "  the new"),
    EditKind.PUNCTUATION: DOC.replace(".", "!"),
    EditKind.TYPO: DOC.replace("mayor", "mayyor"),
    EditKind.DELETION: DOC.replace(", said the mayor", ""),
    EditKind.CONTENT: DOC.replace("new wing", "Glass wing"),
    EditKind.UNKNOWN: DOC,
}
PIECES = ["Maria", " Ok", "af", "or", " opened", " it", " on", " March", " 1", "4"]
PLAIN, COPY, FIXED = 5, 1, 8  # " it", " Ok" (of Okafor), " 1" (of 14)

# (plain, copy, fixed) per place, in the order of policy.PLACES:
# opening, shown opening, rechecked opening, rejoin, body.
EXPECTED = {
    EditKind.UNCHANGED: [(B, B, B)] * 5,
    EditKind.SPACING: [(B, B, N)] * 5,
    EditKind.PUNCTUATION: [(B, N, N)] * 5,
    EditKind.TYPO: [(N, N, N), (N, N, N), (E, E, E), (B, N, N), (B, N, N)],
    EditKind.DELETION: [(N, N, N), (N, N, N), (E, E, E), (B, N, N), (B, N, N)],
    EditKind.CONTENT: [(E, E, E), (N, N, N), (E, E, E), (E, E, E), (B, N, N)],
    EditKind.UNKNOWN: [(N, N, N), (N, N, N), (E, E, E), (B, N, N), (B, N, N)],
}
NOISE = 0.4
GAPS = {"coin flip": 0.2, "band": 0.8, "wide": 6.0}
TOP, DRAFT = 1500, 1501


def logits(gap: float) -> np.ndarray:
    row = np.full(2048, -5.0, dtype=np.float32)
    row[1:21] = np.linspace(0.0, -0.5, 20)
    row[TOP] = 6.0
    row[DRAFT] = 6.0 - gap
    return row


def prepared(kind: EditKind, place: Place, rule: TolerantRule | None = None):
    """The policy of `kind`'s example edit, for a pass whose opening is `place` (a REJOIN or
    BODY token stands in a redraft's own pass)."""
    old = None if kind is EditKind.UNKNOWN else DOC
    edit = Edit(old_prompt=old, new_prompt=EDITS[kind], draft_pieces=PIECES, tokenize=tokenize,
                eog=frozenset({EOG}))
    ctx = (rule or TolerantRule()).prepare(edit)
    opening = Place.OPENING if place in (Place.REJOIN, Place.BODY) else place
    return replace(ctx, old_margins=(0.1,) * len(PIECES), noise=NOISE, opening=opening)


def position(place: Place) -> dict[str, int | None]:
    """`holds` arguments that put a token at `place`: emitted tokens, and the last re-anchor."""
    if place is Place.BODY:
        return {"emitted": 99, "rejoined": None}
    if place is Place.REJOIN:
        return {"emitted": 99, "rejoined": 99 - REJOIN_TOKENS + 1}
    return {"emitted": 0, "rejoined": None}


def test_the_table_prints_whole():
    text = table_text()
    print("\n" + text)
    assert len(text.splitlines()) == 1 + len(EditKind) * len(Place) + 3
    assert set(TABLE) == set(EditKind) and set(EXPECTED) == set(EditKind)


@pytest.mark.parametrize("kind", list(EditKind), ids=lambda k: k.value)
@pytest.mark.parametrize("place", list(Place), ids=lambda p: p.value)
def test_each_row_holds_what_its_tier_allows(kind, place):
    ctx = prepared(kind, place)
    assert ctx.edit is kind  # the example edit is classified as its row
    assert ctx.place(**position(place)) is place
    want = dict(zip((PLAIN, COPY, FIXED), EXPECTED[kind][list(Place).index(place)]))
    for index, tier in want.items():
        held = {name: ctx.holds(logits(gap), TOP, DRAFT, index, **position(place))
                for name, gap in GAPS.items()}
        assert held == {"coin flip": tier >= N, "band": tier == B, "wide": False}, (
            f"{kind.value}, {place.value}, token {PIECES[index]!r}: expected {tier.name}")


@pytest.mark.parametrize("kind", list(EditKind), ids=lambda k: k.value)
def test_an_end_within_the_noise_of_the_argmax_bars_every_row(kind):
    """Where ending trails the argmax by no more than the noise, no draft token is held, at any
    place: fresh generation may end there. An end further back bars nothing."""
    def ending(gap_to_end: float) -> np.ndarray:
        row = logits(GAPS["coin flip"])
        row[EOG] = row[TOP] - gap_to_end
        return row

    for place in Place:
        ctx = prepared(kind, place)
        unvetoed = prepared(kind, place, TolerantRule(ablate=frozenset({"near_end"})))
        at = position(place)
        for index in (PLAIN, COPY, FIXED):
            allowed = ctx.holds(ending(3 * NOISE), TOP, DRAFT, index, **at)
            assert allowed == (ctx.tier(TOP, index, **at) >= N)
            assert not ctx.holds(ending(NOISE / 2), TOP, DRAFT, index, **at)
            assert ctx.holds(ending(NOISE / 2), TOP, TOP, index, **at)  # the argmax itself
            assert unvetoed.holds(ending(NOISE / 2), TOP, DRAFT, index, **at) == allowed


@pytest.mark.parametrize("kind", list(EditKind), ids=lambda k: k.value)
def test_the_content_opening_experiment_holds_a_longer_opening_on_exact_match_only(kind):
    """With the experiment on, a content edit's own opening spans CONTENT_OPENING_TOKENS tokens;
    every other row, and a confirmation's opening, keep the set length (2). By default (the
    control) the content opening has the set length too."""
    def opening_ends(ctx) -> int:
        band_held = [ctx.holds(logits(GAPS["band"]), TOP, DRAFT, PLAIN, emitted)
                     for emitted in range(CONTENT_OPENING_TOKENS + 1)]
        return band_held.index(True)

    content = kind is EditKind.CONTENT
    longer = TolerantRule(experiments=frozenset({"content_opening"}))
    assert opening_ends(prepared(kind, Place.OPENING, longer)) == (
        CONTENT_OPENING_TOKENS if content else 0 if kind in KEPT_WORDS else 2)
    assert opening_ends(prepared(kind, Place.SHOWN_OPENING, longer)) == (
        0 if kind in KEPT_WORDS else 2)
    assert opening_ends(prepared(kind, Place.OPENING)) == (0 if kind in KEPT_WORDS else 2)


def test_ablations_and_experiments_are_checked_by_name():
    assert TolerantRule(ablate=frozenset(ABLATIONS)).ablate == frozenset(ABLATIONS)
    assert TolerantRule(experiments=frozenset(EXPERIMENTS)).experiments == frozenset(EXPERIMENTS)
    with pytest.raises(ValueError, match="unknown ablation"):
        TolerantRule(ablate=frozenset({"probation"}))
    with pytest.raises(ValueError, match="unknown experiment"):
        TolerantRule(experiments=frozenset({"close_veto"}))


@pytest.mark.parametrize("kind", list(EditKind), ids=lambda k: k.value)
def test_the_rejoin_spans_its_tokens_in_a_redraft_s_own_pass_only(kind):
    """A content edit holds the first REJOIN_TOKENS tokens after a re-anchor on exact match
    only, like its opening; the next token is the body's again. A confirmation's pass, whose old
    answer was decided under this edit already, has no rejoin. Control: the ablation `rejoin`
    holds those tokens as the body does."""
    def band_held(ctx, since: int) -> bool:
        return ctx.holds(logits(GAPS["band"]), TOP, DRAFT, PLAIN, 50 + since, rejoined=50)

    content = kind is EditKind.CONTENT
    body = EXPECTED[kind][list(Place).index(Place.BODY)][0] is B
    own = prepared(kind, Place.OPENING)
    assert [band_held(own, k) for k in range(REJOIN_TOKENS + 1)] == (
        [not content and body] * REJOIN_TOKENS + [body])
    assert band_held(prepared(kind, Place.SHOWN_OPENING), 0) == body
    ablated = prepared(kind, Place.OPENING, TolerantRule(ablate=frozenset({"rejoin"})))
    assert band_held(ablated, 0) == body
