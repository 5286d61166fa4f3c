"""The tolerant rule's guards, on hand-made token pieces and logits (pure core, no model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from redraft_engine.guards import Edit, guarded_indices, inserted_token_ids, token_words
from redraft_engine.policy import KEPT_WORDS, EditContext, Tier
from redraft_engine.rules import ExactRule, TolerantRule, band_margin

EOG = 0


def toy_tokenize(text: str) -> list[int]:
    """A stand-in tokenizer: one id per character (enough to check which ids get guarded)."""
    return [ord(c) for c in text]


def edit(old: str | None, new: str, pieces: list[str]) -> Edit:
    return Edit(old_prompt=old, new_prompt=new, draft_pieces=pieces, tokenize=toy_tokenize,
                eog=frozenset({EOG}))


def guarded_text(e: Edit) -> list[str]:
    fixed, copies = guarded_indices(e, copy_min_len=6)
    return [p for i, p in enumerate(e.draft_pieces) if i in fixed | copies]


BODY = 99  # answer tokens emitted before the position: past the opening


def accept(ctx: EditContext, row: np.ndarray, top: int, draft: int, old_index: int, *,
           opening: bool = False) -> bool:
    return ctx.holds(row, top, draft, old_index, 0 if opening else BODY)


def guarded(ctx: EditContext, n: int = 16) -> frozenset[int]:
    """Old-answer indices (of the first `n`) that the body holds on less than the band."""
    return frozenset(i for i in range(n) if ctx.tier(-1, i, BODY) != Tier.BAND)


def test_words_map_to_every_token_they_overlap_with_leading_space_tokens():
    pieces = ["The", " fre", "eze", " is", " ", "1", "4", "th", "."]
    words = dict((w, idx) for w, idx in token_words(pieces))
    assert words["freeze"] == [1, 2]
    assert words["14th"] == [4, 5, 6, 7]  # the bare space token belongs to the number


def test_digits_are_guarded_even_when_the_edit_did_not_touch_them():
    doc = "The freeze is on March 14th."
    e = edit(doc, doc + " Extra line.", ["The", " freeze", " is", " on", " March", " 1", "4", "th"])
    assert {" 1", "4", "th"} <= set(guarded_text(e))


def test_a_name_split_into_subwords_is_guarded_whole():
    old = "Head librarian Maria Okafor opened the wing."
    new = "Head librarian James Chen opened the wing."
    pieces = ["It", " was", " Ok", "af", "or", "."]
    assert guarded_text(edit(old, new, pieces)) == [" Ok", "af", "or"]


def test_copied_content_words_are_guarded_but_phrasing_is_not():
    doc = "The Harbor bridge reopens for buses after the waterproofing work."
    pieces = ["Buses", " will", " use", " the", " Harbor", " bridge", " after", " waterproofing"]
    got = guarded_text(edit(doc, doc + " More.", pieces))
    assert " Harbor" in got and " waterproofing" in got  # a name and a long copied word
    assert " will" not in got and " use" not in got and " the" not in got
    assert "Buses" in got  # capitalised and present in the prompt


def test_words_removed_by_the_edit_are_guarded_even_if_short():
    old = "The board chose the blue logo."
    new = "The board chose the green logo."
    pieces = ["They", " chose", " blue", "."]
    assert guarded_text(edit(old, new, pieces)) == [" blue"]


def test_inserted_content_words_give_their_token_ids_and_stopwords_do_not():
    old = "The board chose the blue logo."
    new = "The board chose the green logo and the big banner."
    ids = inserted_token_ids(edit(old, new, []))
    assert set(toy_tokenize(" green")) <= ids
    assert set(toy_tokenize("banner")) <= ids
    assert ord("b") in ids and ord(" ") in ids  # toy ids are characters: spellings overlap
    assert inserted_token_ids(edit(None, new, [])) == frozenset()
    assert inserted_token_ids(edit(new, new, [])) == frozenset()


def logits_with(top: int, draft: int, gap: float, vocab: int = 40) -> np.ndarray:
    """Flat-ish logits where `top` leads `draft` by `gap`; the rest far below."""
    row = np.full(vocab, -5.0, dtype=np.float32)
    row[1:21] = np.linspace(0.0, -0.5, 20)
    row[top] = 6.0
    row[draft] = 6.0 - gap
    return row


def test_band_holds_a_near_tie_and_rejects_a_wide_gap():
    rule = TolerantRule()
    ctx = rule.prepare(edit("a b", "a c", ["x", "y"]))
    near = logits_with(top=30, draft=31, gap=0.5)
    assert accept(ctx, near, 30, 31, 0)
    far = logits_with(top=30, draft=31, gap=5.0)
    assert not accept(ctx, far, 30, 31, 0)
    _, allowed = band_margin(near, 20, 3.0, 1.0)
    assert 1.0 <= allowed <= 3.0


def test_never_hold_over_an_end_of_generation_argmax():
    rule = TolerantRule()
    ctx = rule.prepare(edit("a b", "a c", ["x"]))
    row = logits_with(top=EOG, draft=31, gap=0.1)
    assert not accept(ctx, row, EOG, 31, 0)


def test_a_guarded_position_needs_an_exact_match():
    doc = "The freeze is on March 14th."
    pieces = ["On", " March", " 1", "4", "th"]
    rule = TolerantRule()
    ctx = rule.prepare(edit(doc, doc.replace("14th", "15th"), pieces))
    row = logits_with(top=30, draft=31, gap=0.1)
    assert 2 in guarded(ctx)
    assert not accept(ctx, row, 30, 31, 2)
    assert accept(ctx, row, 31, 31, 2)
    unguarded = TolerantRule(ablate=frozenset({"guards", "inserted_veto"}))
    assert accept(unguarded.prepare(edit(doc, doc, pieces)), row, 30, 31, 2)


def test_the_draft_yields_where_the_argmax_is_inserted_content():
    old, new = "The board chose the blue logo.", "The board chose the green logo."
    rule = TolerantRule()
    ctx = rule.prepare(edit(old, new, ["It", " is", " fine"]))
    green = toy_tokenize("g")[0]
    row = logits_with(top=green, draft=31, gap=0.1, vocab=128)
    assert not accept(ctx, row, green, 31, 1)


def test_an_unedited_prompt_holds_copies_with_tolerance():
    doc = "Maria Okafor opened the wing on March 14."
    rule = TolerantRule()
    ctx = rule.prepare(edit(doc, doc, ["Maria", " Ok", "af", "or"]))
    assert guarded(ctx) == frozenset() and ctx.inserted == frozenset()
    assert ctx.edit in KEPT_WORDS
    assert ExactRule().prepare(edit(doc, doc, [])).eog == frozenset({EOG})


def test_words_are_kept_only_when_the_edit_changed_spacing_or_punctuation():
    doc = "Maria Okafor opened the wing on March 14."
    rule = TolerantRule()
    for respaced in (doc.replace(" the", "  the"), doc.replace(".", "!"), "\n" + doc):
        assert rule.prepare(edit(doc, respaced, ["Maria"])).edit in KEPT_WORDS
    for changed in (doc.replace("14", "15"), doc.replace("wing", "Wing"), doc + " Then"):
        assert rule.prepare(edit(doc, changed, ["Maria"])).edit not in KEPT_WORDS
    assert rule.prepare(edit(None, doc, ["Maria"])).edit not in KEPT_WORDS


def test_copies_are_not_guarded_when_the_edit_changed_only_spacing_but_digits_are():
    doc = "Maria Okafor opened the wing on March 14."
    pieces = ["Maria", " Ok", "af", "or", " opened", " on", " March", " 1", "4"]
    respaced = doc.replace(" the", "  the").replace("Maria ", "Maria\n\n")
    ctx = TolerantRule().prepare(edit(doc, respaced, pieces))
    assert ctx.edit in KEPT_WORDS and guarded(ctx) == frozenset({7, 8})
    row = logits_with(top=30, draft=31, gap=0.5)
    assert accept(ctx, row, 30, 31, 1)  # " Ok" of Okafor, inside the band
    # Controls: the same copy is guarded when the rule does not trust a kept-words edit, after
    # an edit that changed a word, and after one that changed punctuation only ("#" comments a
    # line out, "!" negates it: the words are kept, what they say is not).
    untrusting = TolerantRule(ablate=frozenset({"kept_words"}))
    off = untrusting.prepare(edit(doc, respaced, pieces))
    assert off.edit not in KEPT_WORDS and {0, 1, 2, 3, 6, 7, 8} <= guarded(off)
    assert not accept(off, row, 30, 31, 1)
    for changed in (doc.replace("opened", "closed"), "# " + doc, doc.replace(".", "!")):
        assert {0, 1, 2, 3, 6, 7, 8} <= guarded(TolerantRule().prepare(edit(doc, changed,
                                                                              pieces)))


def guarded_ctx(old_margins: list[float], noise: float):
    """A context where every old token is guarded (copied digits), with the given margins."""
    doc = "Build 4127 shipped."
    pieces = [" 4", "1", "2", "7"]
    ctx = TolerantRule().prepare(edit(doc, doc.replace("shipped", "landed"), pieces))
    assert guarded(ctx) == frozenset(range(4))
    return replace(ctx, old_margins=tuple(old_margins), noise=noise)


def test_a_guarded_near_tie_is_held_only_within_the_noise_both_ways():
    ctx = guarded_ctx([0.1, 0.3, 0.45, -0.2], noise=0.4)
    row = logits_with(top=30, draft=31, gap=0.35)
    assert accept(ctx, row, 30, 31, 0)  # old 0.1, new 0.35: a coin flip both times
    assert accept(ctx, row, 30, 31, 1)
    assert not accept(ctx, row, 30, 31, 2)  # the old decision was clear (0.45 > 0.4)
    assert accept(ctx, row, 30, 31, 3)  # a negative old margin counts by its size
    wider = logits_with(top=30, draft=31, gap=0.5)
    assert not accept(ctx, wider, 30, 31, 0)  # the edit moved the decision past the noise
    short = guarded_ctx([0.1], noise=0.4)  # a guarded token with no margin recorded
    assert not accept(short, row, 30, 31, 2)


def test_without_noise_or_margins_a_guarded_token_needs_an_exact_match():
    row = logits_with(top=30, draft=31, gap=0.01)
    assert not accept(guarded_ctx([0.0] * 4, noise=0.0), row, 30, 31, 0)
    assert not accept(guarded_ctx([], noise=1.0), row, 30, 31, 0)


def test_the_opening_follows_the_near_tie_rule_even_unguarded():
    rule = TolerantRule()
    ctx = replace(rule.prepare(edit("a b", "a c", ["x", "y"])), old_margins=(0.1, 2.0),
                  noise=0.3)
    near = logits_with(top=30, draft=31, gap=0.2)
    banded = logits_with(top=30, draft=31, gap=0.9)
    assert accept(ctx, banded, 30, 31, 1)  # tolerance where it was earned
    assert not accept(ctx, banded, 30, 31, 1, opening=True)
    assert accept(ctx, near, 30, 31, 0, opening=True)
    assert not accept(ctx, near, 30, 31, 1, opening=True)  # old decision was clear
    assert not accept(replace(ctx, inserted=frozenset({30})), near, 30, 31, 0, opening=True)


@given(st.floats(-2, 2), st.floats(0, 2), st.floats(0, 2), st.floats(0, 2))
def test_the_near_tie_rule_is_monotone_in_the_noise(old_margin, gap, noise, more):
    row = logits_with(top=30, draft=31, gap=gap)
    held_at = [accept(guarded_ctx([old_margin] * 4, noise=n), row, 30, 31, 0)
               for n in (noise, noise + more)]
    assert held_at[0] <= held_at[1]  # more noise never rejects what less noise held
    assert held_at[0] == (abs(old_margin) <= noise and float(row[30]) - float(row[31]) <= noise)


def test_a_word_the_edit_removed_is_held_only_as_the_argmax_never_as_a_near_tie():
    doc = "Revenue grew 12 % over the year, said Lisa."
    pieces = ["Revenue", " grew", " 1", "2", " %", ",", " said", " Lisa", "."]
    renamed = TolerantRule().prepare(edit(doc, doc.replace("12", "18"), pieces))
    assert renamed.removed == frozenset({2, 3})  # the old value, both of its pieces
    ctx = replace(renamed, old_margins=(0.1,) * len(pieces), noise=0.4)
    row = logits_with(top=30, draft=31, gap=0.05)  # a coin flip before and after the edit
    assert not accept(ctx, row, 30, 31, 3)
    assert accept(ctx, row, 31, 31, 3)  # the argmax itself is always held
    # Control: without the removed-word guard the same coin flip keeps the old value.
    unguarded = TolerantRule(ablate=frozenset({"removed_veto"}))
    off = replace(unguarded.prepare(edit(doc, doc.replace("12", "18"), pieces)),
                  old_margins=(0.1,) * len(pieces), noise=0.4)
    assert off.removed == frozenset() and accept(off, row, 30, 31, 3)
    # A removed word still present elsewhere in the new prompt, or a stopword, is not gone.
    moved = doc.replace("12 %", "18 %, as in 12 days")
    assert TolerantRule().prepare(edit(doc, moved, pieces)).removed == frozenset()
    article = TolerantRule().prepare(edit("Revenue grew over the year.", "Revenue grew.",
                                          ["Revenue", " over", " the", " year"]))
    assert article.removed == frozenset({3})  # "year"; "over" and "the" are stopwords
    negated = TolerantRule().prepare(edit("It is not ready.", "It is ready.", [" not", " ready"]))
    assert negated.removed == frozenset({0})  # a negation is a fact
