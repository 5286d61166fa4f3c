"""Misspellings are read as typos, not new content (pure core, a stand-in tokenizer).

An edit whose every changed word is a misspelling of the word it replaced inserts no content:
the tolerant rule leaves `EditContext.inserted` empty, so the answer's opening may hold its
near-ties (tests/test_replay_properties.py shows what an empty `inserted` allows there).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redraft_engine.guards import Edit, misspelt, one_letter_apart, typos_only
from redraft_engine.rules import TolerantRule

EOG = 0
VOCAB = {w: i for i, w in enumerate(
    "the a to is of and scanners early read fire hire bought brought calculate total from form "
    "report order tax price ships week rennes lille".split(), start=1000)}


def vocab_tokenize(text: str) -> list[int]:
    """A stand-in tokenizer: a vocabulary word is one token, any other word one per letter."""
    ids: list[int] = []
    for word in text.split():
        lower = word.lower()
        ids.extend([VOCAB[lower]] if lower in VOCAB else [ord(c) for c in lower])
    return ids


def edit(old: str, new: str) -> Edit:
    return Edit(old_prompt=old, new_prompt=new, draft_pieces=["It", " is"],
                tokenize=vocab_tokenize, eog=frozenset({EOG}))


@pytest.mark.parametrize("a, b", [
    ("scanners", "scannres"),  # swap
    ("early", "eraly"),
    ("fills", "fils"),  # deletion
    ("read", "reads"),  # insertion
    ("calculate", "calculste"),  # substitution
])
def test_one_letter_apart(a, b):
    assert one_letter_apart(a, b) and one_letter_apart(b, a)


@pytest.mark.parametrize("a, b", [
    ("scanners", "scanners"),
    ("scanners", "sacnnres"),  # two swaps
    ("early", "yearl"),
    ("read", "ride"),
    ("abc", "cab"),
    ("fills", "fil"),
])
def test_not_one_letter_apart(a, b):
    assert not one_letter_apart(a, b) and not one_letter_apart(b, a)


@given(st.text(alphabet="abcde", min_size=1, max_size=8), st.data())
def test_any_single_letter_edit_is_one_letter_apart(word, data):
    i = data.draw(st.integers(0, len(word) - 1))
    letter = data.draw(st.sampled_from("abcdef"))
    deleted, inserted = word[:i] + word[i + 1:], word[:i] + letter + word[i:]
    edits = [deleted, inserted, word[:i] + letter + word[i + 1:]]
    if i + 1 < len(word):
        edits.append(word[:i] + word[i + 1] + word[i] + word[i + 2:])
    for other in edits:
        assert one_letter_apart(word, other) == (other != word)


def test_a_misspelling_breaks_a_word_the_vocabulary_holds_whole():
    assert misspelt("scanners", "scannres", vocab_tokenize)
    assert misspelt("Calculate", "Calcualte", vocab_tokenize)
    assert misspelt("early", "eraly", vocab_tokenize)
    # Another real word one letter away is a different word, not a typo.
    assert not misspelt("bought", "brought", vocab_tokenize)
    assert not misspelt("form", "from", vocab_tokenize)


def test_what_reads_as_another_word_is_content_whatever_the_tokenizer_says():
    # Each new form below splits into more tokens than the old one, as a misspelling would.
    assert len(vocab_tokenize("ear1y")) > len(vocab_tokenize("early"))
    assert not misspelt("early", "ear1y", vocab_tokenize)  # a digit
    assert not misspelt("tax", "tex", vocab_tokenize)  # too short
    assert not misspelt("scanners", "sacnnres", vocab_tokenize)  # two letters apart
    # First or last letter: "hire" to "fire", a prefix that negates, an ending that counts.
    assert misspelt("hire", "hxre", vocab_tokenize)  # control: the same word, inside
    assert not misspelt("hire", "xire", vocab_tokenize)
    assert not misspelt("typical", "atypical", vocab_tokenize)
    assert not misspelt("scanners", "scanner", vocab_tokenize)
    assert not misspelt("rennes", "renned", vocab_tokenize)
    # Letters of scripts written without spaces make one "word" of a whole phrase.
    assert not misspelt("会议在三月举行", "会议在五月举行", vocab_tokenize)


def test_an_edit_is_typos_only_when_every_changed_word_is_misspelt():
    doc = "The report ships scanners early this week."
    assert typos_only(doc, doc.replace("scanners", "scannres"), vocab_tokenize)
    assert typos_only(doc, doc.replace("scanners", "scannres").replace("early", "eraly"),
                      vocab_tokenize)
    assert not typos_only(doc, doc, vocab_tokenize)  # nothing changed
    assert not typos_only(doc, doc.replace(" ", "  "), vocab_tokenize)  # spacing only
    assert not typos_only(doc, doc.replace("scanners", "tablets"), vocab_tokenize)
    assert not typos_only(doc, doc.replace("scanners", "scannres") + " Rennes", vocab_tokenize)
    assert not typos_only(doc, doc.replace("scanners early", "scannres"), vocab_tokenize)
    # One changed run that mixes a typo with a change of word.
    assert not typos_only(doc, doc.replace("scanners early", "scannres late"), vocab_tokenize)
    # One letter away but a word of its own: the vocabulary holds "from" whole.
    assert not typos_only("Sign the form.", "Sign the from.", vocab_tokenize)


def test_a_typo_inserts_no_content_for_the_tolerant_rule():
    doc = "Calculate the order total from each price and the tax."
    typo = doc.replace("Calculate", "Calcualte")
    assert TolerantRule().prepare(edit(doc, typo)).inserted == frozenset()
    # Control: without trusting typos, the misspelt word's pieces are inserted content, which
    # bars the opening's near-ties and the band wherever they are the argmax.
    assert TolerantRule(ablate=frozenset({"typos"})).prepare(edit(doc, typo)).inserted
    # A real change of word stays inserted content even when it is one letter away.
    fire = "The board will hire the contractor."
    assert TolerantRule().prepare(edit(fire, fire.replace("hire", "fire"))).inserted
    # A typo next to a changed fact does not hide the fact.
    both = typo.replace("total", "total in Lille")
    assert vocab_tokenize("Lille")[0] in TolerantRule().prepare(edit(doc, both)).inserted
