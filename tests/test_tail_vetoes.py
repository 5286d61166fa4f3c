"""The policy's tail vetoes on the pure core: loops, closing fences and answers cut before the
edit (each with the veto switched off as the control)."""

from __future__ import annotations

import numpy as np
from helpers.fake_model import EOG, FakeModel
from redraft_engine.guards import Edit, reaches_edit
from redraft_engine.loops import repeated_indices
from redraft_engine.policy import Band, EditContext, EditKind
from redraft_engine.replay import ReplaySettings, replay
from redraft_engine.rules import TolerantRule
from redraft_engine.window import WindowPolicy

VOCAB = 12
FENCE = 11


def test_a_stretch_written_again_is_a_loop_from_its_second_occurrence():
    body = [f" w{i}" for i in range(6)]
    pieces = ["Intro", *body, "\n", *body, "\n", *body[:3]]
    loop = repeated_indices(pieces, span=4)
    assert loop == frozenset(range(8, len(pieces)))  # the first pass and its newline are free
    assert repeated_indices(["Intro", *body, " end"], span=4) == frozenset()


def test_spacing_inside_a_loop_does_not_hide_it():
    body = [" a", " b", " c", " d", " e"]
    pieces = [*body, "\n", *body[:2], "  ", *body[2:]]
    assert repeated_indices(pieces, span=5) == frozenset(range(6, len(pieces)))


def edit(old: str, new: str, answer: str, *, cut: bool = True) -> Edit:
    pieces = [(" " if i else "") + word for i, word in enumerate(answer.split(" "))]
    return Edit(old_prompt=old, new_prompt=new, draft_pieces=pieces,
                tokenize=lambda text: [ord(c) for c in text], eog=frozenset({EOG}), cut=cut)


DOC = ("The library opens a reading room in March. Volunteers paint the shelves. "
       "The grand reopening is set for Thursday.")


def test_an_answer_reaches_the_edit_when_it_mentions_what_the_edited_sentence_says():
    moved = DOC.replace("Thursday", "Saturday")
    assert not reaches_edit(edit(DOC, moved, "The library opens a reading room"), copy_min_len=6)
    assert reaches_edit(edit(DOC, moved, "a grand reopening follows"), copy_min_len=6)
    # A word the answer shares with an earlier sentence says nothing of how far it got.
    assert not reaches_edit(edit(DOC, moved, "The library and its Volunteers"), copy_min_len=6)


REACH = TolerantRule(experiments=frozenset({"reach_veto"}))
LOOP = TolerantRule(experiments=frozenset({"loop_veto"}))


def test_only_a_cut_answer_that_never_reached_a_content_edit_is_vetoed():
    rule = REACH
    moved = DOC.replace("Thursday", "Saturday")
    summary = "The library opens a reading room"
    assert rule.prepare(edit(DOC, moved, summary)).cut_before_edit
    assert not rule.prepare(edit(DOC, moved, summary, cut=False)).cut_before_edit
    typo = DOC.replace("Thursday", "Thursdday")  # no content inserted: nothing to reach
    assert not rule.prepare(edit(DOC, typo, summary)).cut_before_edit
    assert not TolerantRule().prepare(edit(DOC, moved, summary)).cut_before_edit  # opt-in


class Fenced(FakeModel):
    """The model's answer: 4 FENCE 5 6 FENCE, then the end. Where it wants to close the block
    the old answer's 7 trails by 0.5 logits (inside any band); once a 7 is written, the model
    repeats it (its own loop)."""

    def logits_after(self, prefix):
        answer = [4, FENCE, 5, 6, FENCE]
        i = len(prefix) - len(self.prompt)
        row = np.zeros(self.vocab, dtype=np.float32)
        row[7 if prefix[-1] == 7 else answer[i] if i < len(answer) else EOG] = 5.0
        row[7] = max(row[7], 4.5)
        return row


def redraft(ctx: EditContext, draft: list[int]) -> list[int]:
    model = Fenced([1], vocab=VOCAB)
    events = replay(model, model.start(), draft, ctx, WindowPolicy(fixed=4),
                    ReplaySettings(max_tokens=20))
    return [e.token for e in events]


def test_the_band_does_not_hold_the_old_answer_past_where_the_model_closes_its_block():
    old = [4, FENCE, 5, 6, 7, 7, 7, 7, 7, 7]  # the old answer's code ran on
    ctx = EditContext(edit=EditKind.CONTENT, band=Band(), eog=frozenset({EOG}),
                      closers=frozenset({FENCE}), opening_tokens=1)
    assert redraft(ctx, old) == [4, FENCE, 5, 6, FENCE]
    # Control: without the veto the band keeps the old continuation to the token limit.
    control = redraft(EditContext(edit=EditKind.CONTENT, band=Band(), eog=frozenset({EOG}),
                                  opening_tokens=1), old)
    assert control == [4, FENCE, 5, 6] + [7] * 16


def test_a_fence_that_opens_a_block_is_held_like_any_token():
    ctx = EditContext(edit=EditKind.CONTENT, band=Band(), eog=frozenset({EOG}),
                      closers=frozenset({FENCE}), opening_tokens=1)
    assert not ctx.holds(np.array([0, 5.0, 0, 0, 0, 0, 0, 4.5, 0, 0, 0, 5.2]), FENCE, 7, 3, 9,
                         block_open=True)
    assert ctx.holds(np.array([0, 5.0, 0, 0, 0, 0, 0, 4.5, 0, 0, 0, 5.2]), FENCE, 7, 3, 9,
                     block_open=False)


def test_the_rule_marks_the_old_answer_s_loop_only_where_the_edit_changed_words():
    loop = "The reopening is on Thursday. " * 4
    moved = DOC.replace("Thursday", "Saturday")
    ctx = LOOP.prepare(edit(DOC, moved, loop.strip(), cut=False))
    assert ctx.loop and min(ctx.loop) >= 5  # the first pass is the answer's own text
    row = np.zeros(VOCAB, dtype=np.float32)
    row[4], row[7] = 5.0, 4.8  # a draft token 0.2 behind the argmax, inside the band
    inside = min(i for i in ctx.loop if i not in ctx.fixed | ctx.copies)
    assert not ctx.holds(row, 4, 7, inside, 99)
    # Controls: the same token outside the loop, the default rule (the veto is an experiment),
    # a spacing-only edit.
    assert ctx.holds(row, 4, 7, 2, 99)  # " is" of the first pass
    off = TolerantRule().prepare(edit(DOC, moved, loop.strip()))
    assert off.loop == frozenset() and off.holds(row, 4, 7, inside, 99)
    respaced = LOOP.prepare(edit(DOC, DOC.replace(". ", ".  "), loop.strip()))
    assert respaced.loop == frozenset()
