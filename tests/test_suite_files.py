"""The edit suites in the repository follow the rules of cases/README.md: a check must be
answerable from `after`, and a trivial edit must change nothing but what its label says."""

import re
import string
from dataclasses import replace

import pytest
from helpers.suites import CASES, HELDOUT, ROOT

from redraft_cli.bench.cases import Case, load_suite

SUITES = [CASES, HELDOUT]
PUNCTUATION = re.compile(r"[\s" + re.escape(string.punctuation) + "]")


def broken_rules(case: Case) -> list[str]:
    after, before = case.after.lower(), case.before.lower()
    broken = [f"expect {e!r} is not in after" for e in case.expect if e.lower() not in after]
    broken += [f"forbid {f!r} is in after" for f in case.forbid if f.lower() in after]
    if case.extra.get("canary"):
        broken += [f"forbid {f!r} is not in before" for f in case.forbid
                   if f.lower() not in before]
    edit = case.extra.get("edit")
    if edit == "whitespace" and re.sub(r"\s", "", before) != re.sub(r"\s", "", after):
        broken.append("a whitespace edit changes more than whitespace")
    if edit == "punctuation" and PUNCTUATION.sub("", before) != PUNCTUATION.sub("", after):
        broken.append("a punctuation edit changes more than punctuation")
    if case.before == case.after:
        broken.append("before and after are the same")
    return broken


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_case_of_the_suite_follows_the_rules(suite):
    cases = load_suite(suite)
    assert cases
    assert {c.id: broken for c in cases if (broken := broken_rules(c))} == {}


def test_the_rules_catch_a_broken_case():
    case = next(c for c in load_suite(SUITES[1]) if c.extra.get("canary"))
    assert broken_rules(case) == []  # control: the case as written
    stale = replace(case, after=case.after + " " + case.forbid[0])
    assert broken_rules(stale) == [f"forbid {case.forbid[0]!r} is in after"]
    spaced = next(c for c in load_suite(SUITES[1]) if c.extra.get("edit") == "whitespace")
    assert broken_rules(spaced) == []
    reworded = replace(spaced, after=spaced.after.replace("library", "museum"))
    assert broken_rules(reworded) == ["a whitespace edit changes more than whitespace"]
