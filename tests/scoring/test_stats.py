"""Bootstrap intervals and the paired test, checked against hand-worked answers and brute force."""
import itertools

import numpy as np
import pytest

from stages.scoring import stats


def test_resample_counts_draw_n_dialogues_per_resample_reproducibly():
    counts = stats.resample_counts(7, 500, seed=3)
    assert counts.shape == (500, 7)
    assert (counts.sum(axis=1) == 7).all()
    assert np.array_equal(counts, stats.resample_counts(7, 500, seed=3))
    assert not np.array_equal(counts, stats.resample_counts(7, 500, seed=4))
    # every dialogue is drawn with probability 1/n each time: expected count 1
    assert counts.mean() == pytest.approx(1.0)


def test_interval_of_two_dialogues_worked_by_hand():
    # Resampling {0, 1} twice gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5%
    # quantiles are 0 and 1, the estimate 0.5.
    counts = stats.resample_counts(2, 4000, seed=0)
    estimate, low, high = stats.bootstrap(np.array([[0.0], [1.0]]), np.ones(2), counts, 0.95)
    assert (estimate[0], low[0], high[0]) == (0.5, 0.0, 1.0)
    means = stats.weighted_means(np.array([[0.0], [1.0]]), np.ones(2), counts)[:, 0]
    assert np.mean(means == 0.5) == pytest.approx(0.5, abs=0.03)


def test_vectorized_bootstrap_matches_a_loop_over_expanded_rows():
    rng = np.random.default_rng(1)
    values = rng.random((12, 3))
    weights = rng.integers(1, 4, size=12).astype(float)  # dialogues with 1-3 references (flat mode)
    counts = stats.resample_counts(12, 300, seed=5)
    fast = stats.weighted_means(values, weights, counts)
    for b in range(len(counts)):
        # brute force: write out every drawn dialogue's rows, then average over rows
        rows = [values[i] for i in range(12) for _ in range(int(counts[b, i] * weights[i]))]
        assert fast[b] == pytest.approx(np.mean(rows, axis=0))
    estimate, low, high = stats.bootstrap(values, weights, counts, 0.9)
    assert estimate == pytest.approx(np.repeat(values, weights.astype(int), axis=0).mean(axis=0))
    assert low == pytest.approx(np.percentile(fast, 5, axis=0))
    assert high == pytest.approx(np.percentile(fast, 95, axis=0))


def test_interval_width_matches_the_standard_error_of_the_mean():
    values = np.random.default_rng(2).random((400, 1))
    counts = stats.resample_counts(400, 4000, seed=0)
    estimate, low, high = stats.bootstrap(values, np.ones(400), counts, 0.95)
    # the bootstrap of a mean is close to normal with sd = population sd / sqrt(n)
    se = values.std() / np.sqrt(400)
    assert high[0] - low[0] == pytest.approx(2 * 1.96 * se, rel=0.08)
    assert low[0] < estimate[0] < high[0]


def exact_sign_flip_p(differences):
    observed = abs(differences.mean())
    flips = [abs((np.array(signs) * differences).mean()) >= observed - 1e-12
             for signs in itertools.product([-1, 1], repeat=len(differences))]
    return np.mean(flips)


def test_sign_flip_p_is_exact_when_every_flip_fits_in_the_resamples():
    differences = np.array([0.30, -0.10, 0.25, 0.05, 0.20, -0.15, 0.10, 0.12])
    # 256 sign vectors <= 300 resamples: all are tried, whatever the seed
    p = stats.sign_flip_p(differences[:, None], np.ones(8), 300, seed=0)[0]
    assert p == pytest.approx(exact_sign_flip_p(differences))
    assert p == stats.sign_flip_p(differences[:, None], np.ones(8), 300, seed=1)[0]


def test_sign_flip_p_by_random_flips_approaches_the_exact_value():
    differences = np.random.default_rng(4).normal(0.02, 0.1, size=14)
    weights = np.array([1.0, 3.0] * 7)  # flat mode: dialogues with different numbers of references
    p = stats.sign_flip_p(differences[:, None], weights, 4000, seed=0)[0]  # 2**14 > 4000: random
    signs = np.array(list(itertools.product([-1, 1], repeat=14)))
    exact = np.mean(np.abs(signs @ (weights * differences)) >= abs(weights @ differences) - 1e-12)
    assert p == pytest.approx(exact, abs=0.02)


def test_paired_test_of_identical_and_of_clearly_different_models():
    rng = np.random.default_rng(3)
    a = rng.random((10, 2))
    counts = stats.resample_counts(10, 2000, seed=0)
    difference, low, high, p = stats.paired(a, a, np.ones(10), counts, 0.95, seed=0)
    assert list(difference) == [0, 0] and list(low) == [0, 0] and list(high) == [0, 0] and list(p) == [1, 1]
    # B is worse on every dialogue: only the two all-same-sign flips of 2**10 are as extreme
    better = a + 0.1 + rng.random((10, 2)) * 0.01
    difference, low, high, p = stats.paired(better, a, np.ones(10), counts, 0.95, seed=0)
    assert difference == pytest.approx((better - a).mean(axis=0))
    assert (low > 0).all() and (high < 0.12).all()
    assert list(p) == [2 / 1024] * 2  # 1024 flips <= 2000 resamples: exact
