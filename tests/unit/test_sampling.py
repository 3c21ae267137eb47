"""Sampling transforms against small hand-computed examples (llama.cpp semantics)."""

import math

import numpy as np
import pytest

from workbench.engine.base import SamplingParams
from workbench.engine.sampling import (
    apply_repeat_penalty,
    distribution,
    logsumexp,
    top_indices,
)

PROBS = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
LOGITS = np.log(PROBS).astype(np.float32) + 3.0  # a shift must not matter


def params(**kw) -> SamplingParams:
    base = dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    return SamplingParams(**{**base, **kw})


def kept(dist) -> dict[int, float]:
    return {int(i): float(p) for i, p in zip(dist.ids, dist.probs, strict=True)}


def test_no_truncation_keeps_the_softmax():
    dist = distribution(LOGITS, params())
    assert dist.kept_count == 5
    assert np.allclose(dist.prob_of(np.arange(5)), PROBS, atol=1e-6)


def test_top_k_keeps_the_k_best_renormalised():
    assert kept(distribution(LOGITS, params(top_k=2))) == pytest.approx({0: 0.5 / 0.7, 1: 0.2 / 0.7})


def test_top_p_keeps_smallest_prefix_reaching_p():
    # cumulative 0.5, 0.7, 0.85: 0.8 is first reached by the third token
    expected = {0: 0.5 / 0.85, 1: 0.2 / 0.85, 2: 0.15 / 0.85}
    assert kept(distribution(LOGITS, params(top_p=0.8))) == pytest.approx(expected)
    assert kept(distribution(LOGITS, params(top_p=0.4))) == pytest.approx({0: 1.0})


def test_min_p_keeps_tokens_above_fraction_of_the_max():
    # floor 0.35 * 0.5 = 0.175: keeps 0.5 and 0.2
    assert kept(distribution(LOGITS, params(min_p=0.35))) == pytest.approx({0: 0.5 / 0.7, 1: 0.2 / 0.7})
    assert distribution(LOGITS, params(min_p=0.25)).kept_count == 3


def test_top_p_applies_to_the_top_k_renormalised_set():
    # after top-k=3 the probabilities are .588, .235, .176: 0.8 is reached by two tokens
    dist = distribution(LOGITS, params(top_k=3, top_p=0.8))
    assert kept(dist) == pytest.approx({0: 0.5 / 0.7, 1: 0.2 / 0.7})
    assert dist.removed_by(2) == "top_p"
    assert dist.removed_by(3) == "top_k"
    assert dist.removed_by(0) is None
    assert dist.prob_of(np.array([0, 2, 4])) == pytest.approx([0.5 / 0.7, 0, 0])
    assert dist.is_kept(np.array([1, 2])).tolist() == [True, False]


def test_temperature_applies_after_truncation():
    a, b = math.sqrt(0.5), math.sqrt(0.2)
    dist = distribution(LOGITS, params(top_k=2, temperature=2.0))
    assert kept(dist) == pytest.approx({0: a / (a + b), 1: b / (a + b)})


def test_low_temperature_sharpens_and_zero_is_greedy():
    sharp = distribution(LOGITS, params(temperature=0.1))
    assert sharp.prob_of(np.array([0]))[0] > 0.99
    greedy = distribution(LOGITS, params(temperature=0.0))
    assert kept(greedy) == {0: 1.0}
    assert greedy.removed_by(1) == "greedy"
    assert greedy.prob_of(np.array([0, 1])).tolist() == [1.0, 0.0]


def test_at_least_one_token_survives():
    assert distribution(LOGITS, params(top_p=1e-9)).kept_count == 1
    assert distribution(LOGITS, params(min_p=1.0)).kept_count == 1


def test_repeat_penalty_divides_positive_and_multiplies_negative():
    logits = np.array([2.0, -1.0, 0.5], dtype=np.float32)
    out = apply_repeat_penalty(logits, [0, 1, 1], 2.0)
    assert out.tolist() == [1.0, -2.0, 0.5]
    assert logits.tolist() == [2.0, -1.0, 0.5]  # input untouched


def test_draw_is_deterministic_and_follows_the_distribution():
    dist = distribution(LOGITS, params(top_k=3))
    first = [dist.draw(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(first)) == 1
    rng = np.random.default_rng(1)
    counts = np.bincount([dist.draw(rng) for _ in range(20000)], minlength=5)
    assert counts[3] == counts[4] == 0
    assert np.allclose(counts[:3] / 20000, [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85], atol=0.015)


def test_top_indices_matches_a_full_sort_on_a_large_vocabulary():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(262_144) * 4).astype(np.float32)
    for k in (1, 20, 500):
        assert top_indices(logits, k).tolist() == np.argsort(-logits, kind="stable")[:k].tolist()


def test_top_indices_handles_minus_infinity():
    logits = np.full(100, -np.inf, dtype=np.float32)
    logits[5] = 1.0
    assert top_indices(logits, 3)[0] == 5
    assert len(top_indices(logits, 3)) == 3


def test_top_p_on_a_flat_large_vocabulary_grows_its_window():
    logits = np.zeros(10_000, dtype=np.float32)
    dist = distribution(logits, params(top_p=0.5))
    assert abs(dist.kept_count - 5000) <= 1  # float rounding of the running sum
    assert math.isclose(logsumexp(logits), math.log(10_000), rel_tol=1e-6)


def test_ties_at_the_border_count_only_the_kept_id():
    logits = np.array([2.0, 1.0, 1.0, 0.0], dtype=np.float32)
    dist = distribution(logits, params(top_k=2))
    assert dist.ids.tolist() == [0, 1]  # lower id wins the tie
    assert dist.is_kept(np.array([1, 2])).tolist() == [True, False]
    assert dist.removed_by(2) == "top_k"
    assert dist.prob_of(np.array([0, 1, 2])).sum() == pytest.approx(1.0)


def test_top_of_an_untruncated_distribution_is_sorted():
    ids, probs = distribution(LOGITS, params()).top(3)
    assert ids.tolist() == [0, 1, 2]
    assert probs == pytest.approx([0.5, 0.2, 0.15], abs=1e-6)
