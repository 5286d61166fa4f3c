"""Sampling with a draft is lossless: the answers are distributed as without the draft.

The replay runs on the deterministic stand-in model with a 5-token vocabulary and answers of
at most 3 tokens, so every answer's exact probability under the model can be enumerated. A
chi-square goodness-of-fit test compares the answers sampled with a draft (and without) to
those probabilities. The draws are seeded, so the test is deterministic; its tolerance is a
chi-square statistic under df + 6·sqrt(2·df), far beyond what a correct sampler reaches with
these seeds (about df) and far below what a biased one gives.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from helpers.fake_model import EOG, FakeModel
from redraft_engine import EditContext
from redraft_engine.replay import ReplaySettings, replay
from redraft_engine.sampling import Sampling, SpeculativeSampler, distribution
from redraft_engine.window import DEFAULT_COST, WindowPolicy

VOCAB = 5
MAX_TOKENS = 3
PROMPT = [3, 1, 4]
TEMPERATURE = 1.5
DRAWS = 3000


def answer(draft: list[int], seed: int, *, always_accept: bool = False) -> tuple[int, ...]:
    model = FakeModel(PROMPT, vocab=VOCAB, seed=7)
    sampler = Sampling(TEMPERATURE, seed=seed).chooser()
    choose = (lambda row, d: d if d is not None else sampler(row, None)) if always_accept \
        else sampler
    events = replay(model, model.start(), draft, EditContext(eog=frozenset({EOG})),
                    WindowPolicy(DEFAULT_COST, max_size=4),
                    ReplaySettings(max_tokens=MAX_TOKENS, choose=choose))
    return tuple(e.token for e in events)


def exact_probabilities() -> dict[tuple[int, ...], float]:
    """Every answer's probability: a product of softmax probabilities, EOG ending early."""
    model = FakeModel(PROMPT, vocab=VOCAB, seed=7)
    found: dict[tuple[int, ...], float] = {}

    def walk(prefix: tuple[int, ...], mass: float) -> None:
        if len(prefix) == MAX_TOKENS:
            found[prefix] = found.get(prefix, 0.0) + mass
            return
        p = distribution(model.logits_after(PROMPT + list(prefix)), TEMPERATURE)
        for token in range(VOCAB):
            if token == EOG:
                found[prefix] = found.get(prefix, 0.0) + mass * p[token]
            else:
                walk((*prefix, token), mass * p[token])

    walk((), 1.0)
    return found


def chi_square(counts: Counter, expected: dict[tuple[int, ...], float]) -> tuple[float, int]:
    """The statistic and its degrees of freedom, outcomes expected under 5 times pooled."""
    total = sum(counts.values())
    assert set(counts) <= set(expected)
    stat, df, pooled_obs, pooled_exp = 0.0, -1, 0.0, 0.0
    for outcome, p in expected.items():
        e, o = p * total, counts.get(outcome, 0)
        if e < 5:
            pooled_obs, pooled_exp = pooled_obs + o, pooled_exp + e
            continue
        stat += (o - e) ** 2 / e
        df += 1
    if pooled_exp > 0:
        stat += (pooled_obs - pooled_exp) ** 2 / pooled_exp
        df += 1
    return stat, df


def tolerance(df: int) -> float:
    return df + 6 * math.sqrt(2 * df)


def least_likely(expected: dict[tuple[int, ...], float]) -> list[int]:
    full = {k: v for k, v in expected.items() if len(k) == MAX_TOKENS}
    return list(min(full, key=full.get))


@pytest.fixture(scope="module")
def expected() -> dict[tuple[int, ...], float]:
    probabilities = exact_probabilities()
    assert math.isclose(sum(probabilities.values()), 1.0, rel_tol=1e-9)
    return probabilities


@pytest.mark.parametrize("draft_kind", ["none", "likely", "unlikely"])
def test_answers_sampled_with_a_draft_follow_the_model(expected, draft_kind):
    draft = {"none": [], "likely": list(max(expected, key=expected.get)),
             "unlikely": least_likely(expected)}[draft_kind]
    counts = Counter(answer(draft, seed) for seed in range(DRAWS))
    stat, df = chi_square(counts, expected)
    print(f"draft {draft}: chi-square {stat:.1f} on {df} df (tolerance {tolerance(df):.1f})")
    assert stat < tolerance(df)


def test_control_always_accepting_the_draft_fails_the_same_test(expected):
    draft = least_likely(expected)
    counts = Counter(answer(draft, seed, always_accept=True) for seed in range(DRAWS))
    stat, df = chi_square(counts, expected)
    print(f"always accepting {draft}: chi-square {stat:.0f} on {df} df")
    assert stat > tolerance(df)


def test_one_position_draws_follow_the_distribution_whatever_the_draft():
    rng = np.random.default_rng(0)
    row = rng.normal(0, 2, VOCAB).astype(np.float32)
    p = distribution(row, 0.8)
    for draft in (None, int(p.argmax()), int(p.argmin())):
        sampler = SpeculativeSampler(0.8, 1.0, np.random.default_rng(1))
        draws = np.bincount([sampler(row, draft) for _ in range(20000)], minlength=VOCAB)
        assert np.abs(draws / 20000 - p).max() < 0.015, (draft, draws / 20000, p)


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    row = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    assert np.allclose(distribution(row, 1.0, 0.7), [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    assert np.allclose(distribution(row, 1.0, 0.85), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0])
    assert np.allclose(distribution(row, 1.0, 1.0), [0.5, 0.3, 0.15, 0.05])


def test_a_seed_repeats_the_draws_and_temperature_zero_is_greedy():
    draft = [1, 2, 3]
    assert [answer(draft, 11) for _ in range(3)] == [answer(draft, 11)] * 3
    assert Sampling(0).greedy
    row = np.array([0.1, 2.0, 1.9], dtype=np.float32)
    assert all(Sampling(0, seed=s).chooser()(row, 2) == 1 for s in range(5))


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        Sampling(-1)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(1, top_p=0)
