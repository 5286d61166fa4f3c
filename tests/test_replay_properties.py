"""Property tests of the replay state machine against the deterministic fake model."""

from __future__ import annotations

from helpers.fake_model import EOG, FakeModel
from hypothesis import given, settings
from hypothesis import strategies as st
from redraft_engine import Stats
from redraft_engine.policy import Band, EditContext, EditKind, Place
from redraft_engine.replay import ReplaySettings, replay
from redraft_engine.spans import HELD, REWRITTEN, build_spans
from redraft_engine.window import WindowPolicy

VOCAB = 12
tokens = st.integers(min_value=1, max_value=VOCAB - 1)
prompts = st.lists(tokens, min_size=1, max_size=16)


@st.composite
def edits(draw):
    """An old prompt, an edited prompt, and an old answer (the old greedy answer or noise)."""
    old = draw(prompts)
    new = list(old)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        pos = draw(st.integers(0, len(new)))
        if kind == "insert" or not new:
            new.insert(pos, draw(tokens))
        elif kind == "delete" and len(new) > 1:
            del new[min(pos, len(new) - 1)]
        else:
            new[min(pos, len(new) - 1)] = draw(tokens)
    seed = draw(st.integers(0, 3))
    if draw(st.booleans()):
        answer = FakeModel(old, vocab=VOCAB, seed=seed).greedy(60)
    else:
        answer = draw(st.lists(tokens, max_size=40))
    return old, new, answer, seed


def policy_for(window):
    return WindowPolicy(fixed=window) if window else WindowPolicy()


EXACT = EditContext(eog=frozenset({EOG}), opening_tokens=1)


def tolerant(tau=3.0, floor=1.0, top_k=5, *, words_kept=False, **fields):
    """The tolerant policy over a band, for an edit that changed no word (`words_kept`) or one
    that changed words (content when it inserted any, else a deletion)."""
    kind = (EditKind.PUNCTUATION if words_kept
            else EditKind.CONTENT if fields.get("inserted") else EditKind.DELETION)
    fields.setdefault("opening_tokens", 1)
    return EditContext(edit=kind, band=Band(tau, floor, top_k), eog=frozenset({EOG}), **fields)


def run(model, draft, ctx, window, max_tokens, anchor_n, **settings):
    counters = Stats()
    events = list(
        replay(model, model.start(), draft, ctx, policy_for(window),
               ReplaySettings(max_tokens=max_tokens, anchor_n=anchor_n, **settings), counters)
    )
    return events, counters


settings_ = settings(max_examples=150, deadline=None)


@settings_
@given(edits(), st.sampled_from([None, 1, 2, 5, 16]), st.integers(1, 70), st.integers(1, 4))
def test_exact_rule_reproduces_fresh_greedy(edit, window, max_tokens, anchor_n):
    _, new, answer, seed = edit
    model = FakeModel(new, vocab=VOCAB, seed=seed)
    events, counters = run(model, answer, EXACT,
                           window, max_tokens, anchor_n)
    assert [e.token for e in events] == model.greedy(max_tokens)
    assert counters.held + counters.rewritten == len(events)


@settings_
@given(edits(), st.sampled_from([None, 1, 3, 8, 32]), st.integers(1, 70), st.integers(1, 4),
       st.floats(0.0, 4.0), st.floats(0.0, 2.0))
def test_tolerant_holds_only_what_the_rule_allows(edit, window, max_tokens, anchor_n, tau, floor):
    _, new, answer, seed = edit
    ctx = tolerant(max(tau, floor), floor, fixed=frozenset(range(0, len(answer), 4)))
    model = FakeModel(new, vocab=VOCAB, seed=seed)
    events, _ = run(model, answer, ctx, window, max_tokens, anchor_n)
    assert len(events) <= max_tokens
    prefix = list(new)
    last_old = -1
    for ev in events:
        logits = model.logits_after(prefix)
        top = int(logits.argmax())
        if ev.kind == REWRITTEN:
            assert ev.token == top
        else:
            assert ev.kind == HELD
            assert answer[ev.old_index] == ev.token
            assert ctx.holds(logits, top, ev.token, ev.old_index, ev.index)
            assert ev.old_index > last_old  # the watermark: no old token is replayed twice
            last_old = ev.old_index
        prefix.append(ev.token)
    if len(events) < max_tokens:
        assert int(model.logits_after(prefix).argmax()) == EOG
    # The cache holds prompt and answer; the last token stays undecoded when the limit stopped it.
    if len(events) == max_tokens:
        assert model.tokens in (prefix, prefix[:-1])
    else:
        assert model.tokens == prefix


@settings_
@given(edits(), st.sampled_from([None, 4]), st.integers(1, 70))
def test_spans_partition_the_answer(edit, window, max_tokens):
    _, new, answer, seed = edit
    model = FakeModel(new, vocab=VOCAB, seed=seed)
    events, _ = run(model, answer, tolerant(), window, max_tokens, 3)
    spans = build_spans(events)
    assert sum(s.n_tokens for s in spans) == len(events)
    pos = 0
    for s in spans:
        assert s.start == pos and s.end > s.start
        pos = s.end
        if s.kind == HELD:
            assert s.old_end - s.old_start == s.n_tokens
    for a, b in zip(spans, spans[1:]):
        assert not (a.kind == b.kind == REWRITTEN)


def test_identical_prompt_holds_its_own_greedy_answer_in_windows():
    prompt = [3, 5, 7, 2, 9]
    model = FakeModel(prompt, vocab=VOCAB)
    answer = FakeModel(prompt, vocab=VOCAB).greedy(50)
    assert len(answer) > 5
    events, counters = run(model, answer, EXACT,
                           None, 50, 3)
    assert [e.token for e in events] == answer
    assert counters.held == len(answer) and counters.rewritten == 0
    assert counters.windows < len(answer)  # verified in batches, not token by token


def test_reanchor_salvages_the_tail_after_a_divergence():
    answer = [4, 4, 5, 6, 7, 8, 9, 10, 11, 3, 6, 8]

    class Scripted(FakeModel):
        """Greedy output is the answer with its second token replaced by 2."""

        def logits_after(self, prefix):
            import numpy as np

            i = len(prefix) - len(self.prompt)
            target = ([4, 2] + answer[2:])[i] if i < len(answer) else EOG
            row = np.zeros(self.vocab, dtype=np.float32)
            row[target] = 10.0
            return row

    model = Scripted([1], vocab=VOCAB)
    events, counters = run(model, answer, EXACT,
                           8, 40, 2)
    assert [e.token for e in events] == [4, 2] + answer[2:]
    assert counters.reanchors >= 1
    assert [e.kind for e in events][-6:] == [HELD] * 6


def test_span_builder_reports_each_new_span_once():
    from redraft_engine.spans import SpanBuilder, TokenEvent

    events = [TokenEvent(HELD, 1, 0, 0, "a"), TokenEvent(HELD, 2, 1, 1, "b"),
              TokenEvent(HELD, 3, 2, 5, "c"), TokenEvent(REWRITTEN, 4, 3, None, "d"),
              TokenEvent(REWRITTEN, 5, 4, None, "e")]
    builder = SpanBuilder()
    assert [builder.add(e) for e in events] == [True, False, True, True, False]
    assert [(s.kind, s.start, s.end, s.text) for s in builder.result()] == [
        (HELD, 0, 2, "ab"), (HELD, 2, 3, "c"), (REWRITTEN, 3, 5, "de")]


class CoinFlip(FakeModel):
    """Greedy output 4 5 6 7 8 9; at answer position `at` the scripted token leads token 3 by
    `lead` (negative: 3 leads), everywhere else the scripted token leads by 5 logits."""

    def __init__(self, prompt, lead, at=2):
        super().__init__(prompt, vocab=VOCAB)
        self.lead = lead
        self.at = at

    def logits_after(self, prefix):
        import numpy as np

        script = [4, 5, 6, 7, 8, 9]
        i = len(prefix) - len(self.prompt)
        row = np.zeros(self.vocab, dtype=np.float32)
        if i >= len(script):
            row[EOG] = 5.0
            return row
        row[script[i]] = 5.0
        if i == self.at:
            row[script[i]], row[3] = 5.0, 5.0 - self.lead
        return row


def redraft_with_margins(old_lead, new_lead, noise, *, at=2, inserted=frozenset(),
                         words_kept=False, guarded=True, start_probation=1, confirming=False,
                         opening_exact=False):
    old_model = CoinFlip([1], old_lead, at)
    old_events, _ = run(old_model, [], EXACT, None, 10, 2)
    old = [e.token for e in old_events]
    margins = tuple(e.margin for e in old_events)
    opening = (Place.RECHECKED_OPENING if opening_exact
               else Place.SHOWN_OPENING if confirming else Place.OPENING)
    ctx = tolerant(fixed=frozenset(range(len(old)) if guarded else ()), old_margins=margins,
                   noise=noise, inserted=inserted, words_kept=words_kept, opening=opening,
                   opening_tokens=start_probation)
    new_model = CoinFlip([1, 2], new_lead, at)
    events, counters = run(new_model, old, ctx, None, 10, 2)
    return old, [e.token for e in events], counters


def test_a_flipped_coin_is_held_and_a_real_flip_is_re_derived():
    # Old decision 6 over 3 by 0.1; under the edit 3 leads by 0.2: both within noise 0.3.
    old, new, counters = redraft_with_margins(0.1, -0.2, noise=0.3)
    assert old == [4, 5, 6, 7, 8, 9] and new == old and counters.divergences == 0
    # Control: the same edit without the near-tie rule re-derives the guarded token.
    _, new_off, _ = redraft_with_margins(0.1, -0.2, noise=0.0)
    assert new_off[2] == 3
    # A real flip: the old decision was clear (by 2.0), so the edit changed it.
    old, new, counters = redraft_with_margins(2.0, -0.2, noise=0.3)
    assert new[2] == 3 and counters.divergences >= 1


def test_a_coin_flip_at_the_first_token_is_held_only_when_the_edit_inserted_no_content():
    # The first token decides the whole path: 4 over 3 by 0.1, then 3 by 0.2 under the edit.
    old, new, counters = redraft_with_margins(0.1, -0.2, noise=0.3, at=0)
    assert old == [4, 5, 6, 7, 8, 9] and new == old and counters.divergences == 0
    # Control: an edit that inserted content (token 11, never the argmax here) takes the
    # fresh path, so a new fact can enter the answer.
    _, new_fact, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=0, inserted=frozenset({11}))
    assert new_fact[0] == 3


def test_a_confirmation_holds_a_coin_flip_in_an_opening_decided_under_the_edit():
    # The draft is an answer already redrafted for the edit (watch's blended answer): its first
    # token, 4 over 3 by 0.1, is a coin flip that 3 now wins by 0.2. Held, though the edit
    # inserted content (token 11).
    old, new, counters = redraft_with_margins(0.1, -0.2, noise=0.3, at=0,
                                              inserted=frozenset({11}), confirming=True)
    assert new == old and counters.divergences == 0
    # A clear decision that the exact cache turns is re-derived all the same.
    _, turned, _ = redraft_with_margins(2.0, -0.5, noise=0.3, at=0, inserted=frozenset({11}),
                                        confirming=True)
    assert turned[0] == 3
    # Control: as a redraft of an older answer, the same coin flip takes the fresh path.
    _, redrafted, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=0, inserted=frozenset({11}))
    assert redrafted[0] == 3


def test_an_exact_opening_re_derives_every_coin_flip_there():
    # A confirmation that can redraft the older answer holds the shown opening only where the
    # exact cache chooses it: the coin flip at the first token (4 over 3 by 0.1, now 3 by 0.2)
    # is re-derived, though the edit inserted nothing and the opening was decided under it.
    _, new, counters = redraft_with_margins(0.1, -0.2, noise=0.3, at=0, confirming=True,
                                            opening_exact=True)
    assert new[0] == 3 and counters.divergences >= 1
    # Control: without it the same coin flip is held.
    old, held, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=0, confirming=True)
    assert held == old
    # Past the opening the rule is unchanged: a coin flip at the third token is still held.
    old, later, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=2, confirming=True,
                                         opening_exact=True)
    assert later == old


def test_the_first_token_is_held_by_the_band_only_when_the_edit_changed_no_word():
    # A clear old decision (4 over 3 by 2.0) that the edit turned: 3 now leads by 0.5, outside
    # the noise (0.3) but inside the band (at least 1.0 logit).
    old, new, counters = redraft_with_margins(2.0, -0.5, noise=0.3, at=0, guarded=False,
                                              words_kept=True)
    assert old == [4, 5, 6, 7, 8, 9] and new == old and counters.divergences == 0
    # Control: the same logits after an edit that changed a word take the fresh path.
    _, new_changed, _ = redraft_with_margins(2.0, -0.5, noise=0.3, at=0, guarded=False)
    assert new_changed[0] == 3
    # Guards still hold: a guarded first token (a digit, say) is re-derived even when no word
    # changed.
    _, new_guarded, _ = redraft_with_margins(2.0, -0.5, noise=0.3, at=0, words_kept=True)
    assert new_guarded[0] == 3


def test_the_answer_s_opening_follows_the_first_token_s_rule():
    # At the second token a clear old decision (5 over 3 by 2.0) is turned: 3 leads by 0.5,
    # outside the noise (0.3), inside the band. With a start probation of 2 it is re-derived.
    old, new, _ = redraft_with_margins(2.0, -0.5, noise=0.3, at=1, guarded=False,
                                       start_probation=2)
    assert old == [4, 5, 6, 7, 8, 9] and new[:2] == [4, 3]
    # Control: with only the first token in the opening, the band holds the old token.
    _, new_band, _ = redraft_with_margins(2.0, -0.5, noise=0.3, at=1, guarded=False)
    assert new_band == old
    # A coin flip both times (5 over 3 by 0.1, then 3 by 0.2) stays held in the opening when the
    # edit inserted no content, and is re-derived when it did (token 11, never the argmax).
    _, new_tie, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=1, guarded=False,
                                         start_probation=2)
    assert new_tie == old
    _, new_fact, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=1, guarded=False,
                                          inserted=frozenset({11}), start_probation=2)
    assert new_fact[:2] == [4, 3]
    _, new_fact_late, _ = redraft_with_margins(0.1, -0.2, noise=0.3, at=1, guarded=False,
                                               inserted=frozenset({11}))
    assert new_fact_late == old
    # An edit that changed no word leaves the opening to the band.
    _, new_kept, _ = redraft_with_margins(2.0, -0.5, noise=0.3, at=1, guarded=False,
                                          words_kept=True, start_probation=2)
    assert new_kept == old


BLANKS = frozenset({1, 2})


def test_a_re_anchor_looks_past_a_change_of_spacing():
    # 1 and 2 are whitespace-only tokens; the edit turned every 1 of the answer into a 2.
    answer = [4, 1, 5, 6, 1, 7, 8, 1, 9, 10, 11]
    respaced = [2 if t == 1 else t for t in answer]

    class Respaced(FakeModel):
        def logits_after(self, prefix):
            import numpy as np

            i = len(prefix) - len(self.prompt)
            row = np.zeros(self.vocab, dtype=np.float32)
            row[respaced[i] if i < len(respaced) else EOG] = 10.0
            return row

    def redraft(is_blank):
        model = Respaced([3], vocab=VOCAB)
        counters = Stats()
        events = list(replay(model, model.start(), answer, EXACT, policy_for(8),
                             ReplaySettings(max_tokens=40, anchor_n=2, is_blank=is_blank),
                             counters))
        return [e.token for e in events], counters

    tokens_, counters = redraft(BLANKS.__contains__)
    assert tokens_ == respaced
    # Each respaced token is rewritten, and the first also needs a second token to match on.
    assert counters.rewritten == 4 and counters.reanchors == 3
    # Control: matching on every token needs two new tokens after each change to resume.
    tokens_off, counters_off = redraft(lambda t: False)
    assert tokens_off == respaced and counters_off.rewritten >= 6


def test_a_re_anchor_may_overlap_what_was_held_before_the_rejection():
    # The edit made the model repeat a token: the old answer 4 5 6 7 ..., the new one 4 5 5 6 7
    # .... After the repeated 5 and the 6, the last two tokens (5 6) match the old answer
    # where it was rejected, so the replay resumes at 7 and rewrites only the 5 and the 6.
    answer = [4, 5, 6, 7, 8, 9, 10, 11, 3, 6]
    repeated = [4, 5, *answer[1:]]

    class Repeating(FakeModel):
        def logits_after(self, prefix):
            import numpy as np

            i = len(prefix) - len(self.prompt)
            row = np.zeros(self.vocab, dtype=np.float32)
            row[repeated[i] if i < len(repeated) else EOG] = 10.0
            return row

    model = Repeating([3], vocab=VOCAB)
    events, counters = run(model, answer, EXACT,
                           8, 40, 2)
    assert [e.token for e in events] == repeated
    assert [e.kind for e in events] == [HELD, HELD, REWRITTEN, REWRITTEN] + [HELD] * 7
    assert [e.old_index for e in events[4:]] == list(range(3, len(answer)))


@settings_
@given(edits(), st.sampled_from([None, 1, 5, 16]), st.integers(1, 70), st.integers(1, 4),
       st.sets(tokens, max_size=4))
def test_exact_rule_stays_lossless_with_blank_tokens(edit, window, max_tokens, anchor_n, blanks):
    _, new, answer, seed = edit
    model = FakeModel(new, vocab=VOCAB, seed=seed)
    events = list(replay(model, model.start(), answer, EXACT, policy_for(window),
                         ReplaySettings(max_tokens=max_tokens, anchor_n=anchor_n, prompt=new * 3,
                                        quote_windows=policy_for(window),
                                        is_blank=blanks.__contains__)))
    fresh = FakeModel(new, vocab=VOCAB, seed=seed).greedy(max_tokens)
    assert [e.token for e in events] == fresh


@settings_
@given(edits(), st.sampled_from([None, 1, 3, 8]), st.integers(1, 70), st.integers(1, 4),
       st.integers(1, 6), st.booleans())
def test_the_opening_holds_only_exact_matches(edit, window, max_tokens, anchor_n, opening,
                                              words_kept):
    """The first `opening` answer tokens (unless the edit changed no word) are exact matches
    (no margins, so no near-ties either), however wide the band."""
    _, new, answer, seed = edit
    model = FakeModel(new, vocab=VOCAB, seed=seed)
    ctx = tolerant(20.0, 20.0, VOCAB, words_kept=words_kept, opening_tokens=opening)
    events, _ = run(model, answer, ctx, window, max_tokens, anchor_n)
    prefix = list(new)
    for i, ev in enumerate(events):
        top = int(model.logits_after(prefix).argmax())
        if ev.kind == REWRITTEN or (i < opening and not words_kept):
            assert ev.token == top
        prefix.append(ev.token)


@settings_
@given(edits(), st.sampled_from([None, 1, 5, 16]), st.integers(1, 70), st.integers(1, 4))
def test_quotes_from_the_prompt_keep_the_exact_rule_lossless(edit, window, max_tokens, anchor_n):
    _, new, answer, seed = edit
    model = FakeModel(new, vocab=VOCAB, seed=seed)
    counters = Stats()
    events = list(replay(model, model.start(), answer, EXACT, policy_for(window),
                         ReplaySettings(max_tokens=max_tokens, anchor_n=anchor_n, prompt=new * 3,
                                        quote_windows=policy_for(window)), counters))
    assert [e.token for e in events] == model.greedy(max_tokens)
    assert all(e.kind == REWRITTEN for e in events if e.old_index is None)
    assert counters.held + counters.rewritten == len(events)
