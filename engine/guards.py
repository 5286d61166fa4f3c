"""What an edit changed, read per word: the old answer's guarded tokens (the `Kind` column of
the policy table) and the words the edit removed or inserted (its vetoes).

Copied content is re-derived exactly; only the model's own phrasing is held with tolerance.
Decisions are taken per word of the old answer, because names and numbers split into sub-word
tokens: if one token of a guarded word is guarded, all of them are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

WORD = re.compile(r"\w+", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    however therefore thus may might must shall one two new""".split()
)


@dataclass(frozen=True)
class Edit:
    """Everything a rule may need to prepare its policy for one redraft.

    fences: token ids that write a code fence; cut: the old answer reached this redraft's
    token limit (it was cut, not ended by the model); ended: the old answer ended at an end of
    generation (not at a token limit), so its end is a draft token too."""

    old_prompt: str | None
    new_prompt: str
    draft_pieces: Sequence[str]
    tokenize: Callable[[str], list[int]]
    eog: frozenset[int]
    fences: frozenset[int] = frozenset()
    cut: bool = False
    ended: bool = False


def words(text: str) -> list[str]:
    return WORD.findall(text)


@lru_cache(maxsize=4)  # the guards and the typo test of one redraft diff the same two prompts
def word_changes(old: str, new: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """The runs of words the edit changed, each as (words of `old`, words of `new`) in their
    own case; words are compared lower-cased. An insertion or deletion leaves one side empty."""
    a, b = words(old), words(new)
    matcher = SequenceMatcher(None, [w.lower() for w in a], [w.lower() for w in b],
                              autojunk=False)
    return tuple((tuple(a[i1:i2]), tuple(b[j1:j2]))
                 for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")


def diff_words(old: str, new: str) -> tuple[frozenset[str], frozenset[str]]:
    """Lower-cased words removed from `old` and inserted into `new` by the edit."""
    changes = word_changes(old, new)
    removed = frozenset(w.lower() for gone, _ in changes for w in gone)
    inserted = frozenset(w.lower() for _, came in changes for w in came)
    return removed, inserted


def same_but_spacing(old: str, new: str) -> bool:
    """Do the two texts differ only in whitespace (every other character kept, in order)?"""
    return "".join(old.split()) == "".join(new.split())


def same_words(old: str, new: str) -> bool:
    """Do the two texts have the same words in the same order (case counts)?"""
    return words(old) == words(new)


def token_words(pieces: Sequence[str]) -> list[tuple[str, list[int]]]:
    """The words of the concatenated pieces, each with the indices of the tokens it overlaps,
    counting whitespace-only tokens right before the word as part of it."""
    starts = []
    pos = 0
    for piece in pieces:
        starts.append(pos)
        pos += len(piece)
    text = "".join(pieces)
    out: list[tuple[str, list[int]]] = []
    tok = 0
    for m in WORD.finditer(text):
        while tok + 1 < len(pieces) and starts[tok + 1] <= m.start():
            tok += 1
        last = tok
        while last + 1 < len(pieces) and starts[last + 1] < m.end():
            last += 1
        first = tok
        # A whitespace-only token before a word is that word's start (" 9" can split as " ", "9").
        while first > 0 and pieces[first - 1] and not pieces[first - 1].strip():
            first -= 1
        out.append((m.group(), list(range(first, last + 1))))
    return out


def is_content_word(word: str, min_len: int) -> bool:
    lower = word.lower()
    if lower in STOPWORDS:
        return False
    if any(c.isdigit() for c in word):
        return True
    if any(c.isupper() for c in word) and len(word) > 1:
        return True
    return len(word) >= min_len


def guarded_indices(edit: Edit, *, copy_min_len: int) -> tuple[frozenset[int], frozenset[int]]:
    """Old-answer token indices that carry fixed content, and those that carry copies.

    Fixed: a digit, or a word that occurs in the text the edit removed. Copies: a content word
    (name, number, long word) that the old or the new prompt holds.
    """
    fixed: set[int] = set()
    copies: set[int] = set()
    removed: frozenset[str] = frozenset()
    if edit.old_prompt is not None:
        removed, _ = diff_words(edit.old_prompt, edit.new_prompt)
    prompt_words = {w.lower() for w in words(edit.new_prompt)}
    if edit.old_prompt is not None:
        prompt_words |= {w.lower() for w in words(edit.old_prompt)}
    for word, idx in token_words(edit.draft_pieces):
        lower = word.lower()
        if any(c.isdigit() for c in word) or lower in removed:
            fixed.update(idx)
        elif lower in prompt_words and is_content_word(word, copy_min_len):
            copies.update(idx)
    return frozenset(fixed), frozenset(copies)


def reaches_edit(edit: Edit, *, copy_min_len: int) -> bool:
    """Does the old answer mention what the old prompt says from the edited sentence on?

    True when the answer holds a content word whose first occurrence in the old prompt lies in
    the sentence where the edit starts or after it (an unknown or unchanged prompt: True).
    """
    old, new = edit.old_prompt, edit.new_prompt
    if old is None or old == new:
        return True
    start = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    sentence = max(old.rfind(mark, 0, start) for mark in (".", "\n", "!", "?")) + 1
    earlier = {w.lower() for w in words(old[:sentence])}
    late = {w.lower() for w in words(old[sentence:]) if is_content_word(w, copy_min_len)}
    answer = {w.lower() for w in words("".join(edit.draft_pieces))}
    return bool((late - earlier) & answer)


NEGATIONS = frozenset({"no", "not", "nor"})  # stopwords that state a fact


def removed_indices(edit: Edit) -> frozenset[int]:
    """Old-answer token indices of the words the edit removed from the prompt and that the
    new prompt no longer holds anywhere (numbers, names, negations; other stopwords aside)."""
    if edit.old_prompt is None:
        return frozenset()
    removed, _ = diff_words(edit.old_prompt, edit.new_prompt)
    gone = removed - {w.lower() for w in words(edit.new_prompt)}
    gone = frozenset(w for w in gone if w not in STOPWORDS or w in NEGATIONS)
    if not gone:
        return frozenset()
    return frozenset(i for word, idx in token_words(edit.draft_pieces)
                     if word.lower() in gone for i in idx)


def inserted_token_ids(edit: Edit, *, min_piece_len: int = 3) -> frozenset[int]:
    """Token ids that spell content words the edit inserted into the prompt."""
    if edit.old_prompt is None:
        return frozenset()
    _, inserted = diff_words(edit.old_prompt, edit.new_prompt)
    original_case = {w.lower(): w for w in words(edit.new_prompt)}
    ids: set[int] = set()
    for lower in inserted:
        word = original_case.get(lower, lower)
        if lower in STOPWORDS or not (len(word) >= min_piece_len or word.isdigit()):
            continue
        for form in {word, lower, word.capitalize()}:
            for spelling in (form, " " + form):
                ids.update(edit.tokenize(spelling))
    return frozenset(ids)


def one_letter_apart(a: str, b: str) -> bool:
    """Is `b` `a` with one letter substituted, inserted, deleted, or swapped with its neighbour?"""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return diff == [i, i + 1] and (a[i], a[i + 1]) == (b[i + 1], b[i])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1:]


def misspelt(old: str, new: str, tokenize: Callable[[str], list[int]], *,
             min_len: int = 4) -> bool:
    """Does `new` read as a misspelling of `old` rather than another word?

    Both are ASCII letters only, at least `min_len` long, one letter apart inside the word (the
    first and last letters kept: prefixes and endings such as "a-", "-s" or "-d" change what a
    word says), and `new` takes more tokens than `old`: a vocabulary holds real words whole
    more often than their misspellings, so "form" for "from" (one token each) is another
    word, "scannres" for "scanners" a typo.
    """
    if not (old.isascii() and new.isascii() and old.isalpha() and new.isalpha()):
        return False  # scripts written without spaces make one "word" of a whole phrase
    a, b = old.lower(), new.lower()
    if min(len(a), len(b)) < min_len or a[0] != b[0] or a[-1] != b[-1]:
        return False
    return one_letter_apart(a, b) and len(tokenize(" " + new)) > len(tokenize(" " + old))


def typos_only(old: str, new: str, tokenize: Callable[[str], list[int]]) -> bool:
    """Is every word the edit changed a misspelling of the word it replaced (and no word added
    or removed)? False when no word changed at all."""
    changes = word_changes(old, new)
    return bool(changes) and all(
        len(gone) == len(came) and all(misspelt(x, y, tokenize) for x, y in zip(gone, came))
        for gone, came in changes)
