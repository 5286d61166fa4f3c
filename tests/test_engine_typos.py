"""A typo inserts no content, on the real models: their tokenizers tell the suite's typos from
its changes of fact, and a coin flip at the answer's first token survives a typo.

Built from the suite's `code-cart-typo-start` on Gemma 3 ("Calculate" misspelt "Calcualte" in
the first comment of the code). The old answer's first token "export" won by 0.112 logits. On
a machine with AVX-512, under the edited code "//" leads it by 0.028: both within the measured
noise, a coin flip that the typo did not make. Read as inserted content, the misspelling barred
the opening's near-ties and the whole answer was rewritten (held 0.00 in the suite).
"""

from __future__ import annotations

import pytest
from helpers.models import MODEL_PARAMS, MODEL_PATHS, PINNED_WINDOW, gemma_path
from helpers.recorded_draft import recorded_draft
from helpers.suites import CASES
from redraft_engine import Engine
from redraft_engine.guards import typos_only
from redraft_engine.rules import TolerantRule

from redraft_cli.bench.cases import load_suite

pytestmark = pytest.mark.model

ANSWER_TOKENS = 48

# Gemma 3's vocabulary holds "fils" (French) whole, so "fills" misspelt "fils" reads as another
# word there: a change the rule treats as content, the safe side.
WORDS_OF_THEIR_OWN = {"gemma3-270m": {"fact-trail-typo-middle"}}


@pytest.fixture(scope="module", params=MODEL_PARAMS)
def tokenizer(request):
    engine = Engine(MODEL_PATHS[request.param](), max_tokens=1)
    yield request.param, engine.model.tokenize
    engine.close()


def test_the_suite_s_typos_and_only_they_read_as_typos(tokenizer):
    name, tokenize = tokenizer
    suite = load_suite(CASES)
    read_as_typos = {c.id for c in suite if typos_only(c.before, c.after, tokenize)}
    typos = {c.id for c in suite if c.extra.get("edit") == "typo"}
    assert len(typos) == 5
    assert read_as_typos == typos - WORDS_OF_THEIR_OWN.get(name, set())


# One letter apart inside the word, first and last letters kept: only the vocabulary tells
# these changes of word from typos.
REAL_WORD_PAIRS = [("bought", "brought"), ("form", "from"), ("quit", "quiet"),
                   ("dairy", "diary"), ("angel", "angle"), ("trial", "trail"),
                   ("causal", "casual"), ("united", "untied"), ("board", "broad")]


def test_a_change_to_another_real_word_is_not_a_typo(tokenizer):
    _, tokenize = tokenizer
    read_as_typos = []
    for old, new in REAL_WORD_PAIRS:
        doc = f"The memo says {old} twice: {old}."
        if typos_only(doc, doc.replace(old, new), tokenize):
            read_as_typos.append((old, new))
    # The known limit: both vocabularies split the rarer "untied" as they would a misspelling.
    assert read_as_typos == [("united", "untied")]
    # Control: a misspelling of the same words reads as a typo.
    doc = "The memo says brought and casual."
    assert typos_only(doc, doc.replace("brought", "borught").replace("casual", "casaul"),
                      tokenize)


# The old answer as Gemma 3 generated it on the AVX-512 machine the suite was measured on, with
# its first token's margin; the other margins are left unknown.
OLD_ANSWER = ("export default function orderTotal(items, discountCode) {\n"
              "  const tax = item.price * (1 + TAX_RATE);\n"
              "  const freeShipping = item.quantity * 100;\n"
              "  const shipping =")
OLD_FIRST_MARGIN = 0.112


@pytest.fixture(scope="module")
def cart():
    case = next(c for c in load_suite(CASES) if c.id == "code-cart-typo-start")
    engine = Engine(gemma_path(), max_tokens=ANSWER_TOKENS, window=PINNED_WINDOW)
    old, state = recorded_draft(engine, OLD_ANSWER, case.prompt(case.before),
                                {0: OLD_FIRST_MARGIN})
    assert engine.model.text_pieces(old.tokens[:1]) == ["export"]
    yield engine, case, old, state
    engine.close()


def redraft(cart, rule):
    engine, case, old, state = cart
    assert engine.import_state(*state)
    return engine.redraft(case.prompt(case.after), old, rule=rule)


@pytest.mark.gemma
@pytest.mark.slow
def test_a_typo_keeps_an_answer_whose_opening_was_a_coin_flip(cart):
    new = redraft(cart, TolerantRule())
    # The opening and its line are held (further on, guarded digits and copied names whose old
    # margins this draft leaves unknown are held only where they are the argmax).
    assert new.text.startswith(OLD_ANSWER.split("\n")[0])


@pytest.mark.gemma
@pytest.mark.slow
def test_control_a_typo_read_as_content_rewrites_the_opening(cart):
    engine, case, old, state = cart
    assert engine.import_state(*state)
    first = engine.generate(case.prompt(case.after), max_tokens=1).tokens[0]
    if first == old.tokens[0]:
        pytest.skip("this CPU's kernels keep 'export' the argmax under the typo: no coin flip "
                    "to re-derive (the suite measured '//' ahead by 0.028 with AVX-512)")
    new = redraft(cart, TolerantRule(ablate=frozenset({"typos"})))
    assert new.tokens[0] == first != old.tokens[0]
    assert not new.text.startswith("export")
