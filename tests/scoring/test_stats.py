"""Bootstrap intervals and the paired test, checked against hand-worked answers and brute force."""
import itertools

import numpy as np
import pytest

from stages.scoring import stats


def all_counts(n, resamples, seed, chunk=stats.CHUNK):
    return np.concatenate(list(stats.Resamples(n, resamples, seed, chunk).counts()))


def test_resample_counts_draw_n_dialogues_per_resample_reproducibly():
    counts = all_counts(7, 500, seed=3)
    assert counts.shape == (500, 7)
    assert (counts.sum(axis=1) == 7).all()
    assert np.array_equal(counts, all_counts(7, 500, seed=3))
    assert not np.array_equal(counts, all_counts(7, 500, seed=4))
    # every dialogue is drawn with probability 1/n each time: expected count 1
    assert counts.mean() == pytest.approx(1.0)


def test_interval_of_two_dialogues_worked_by_hand():
    # Resampling {0, 1} twice gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5%
    # quantiles are 0 and 1, the estimate 0.5.
    resamples = stats.Resamples(2, 4000, seed=0)
    [(estimate, low, high)] = stats.bootstrap([(np.array([[0.0], [1.0]]), np.ones(2))], resamples, 0.95)
    assert (estimate[0], low[0], high[0]) == (0.5, 0.0, 1.0)
    means = stats.weighted_means(np.array([[0.0], [1.0]]), np.ones(2), all_counts(2, 4000, seed=0))[:, 0]
    assert np.mean(means == 0.5) == pytest.approx(0.5, abs=0.03)


def test_vectorized_bootstrap_matches_a_loop_over_expanded_rows():
    rng = np.random.default_rng(1)
    values = rng.random((12, 3))
    weights = rng.integers(1, 4, size=12).astype(float)  # dialogues with 1-3 references (flat mode)
    counts = all_counts(12, 300, seed=5)
    fast = stats.weighted_means(values, weights, counts)
    for b in range(len(counts)):
        # brute force: write out every drawn dialogue's rows, then average over rows
        rows = [values[i] for i in range(12) for _ in range(int(counts[b, i] * weights[i]))]
        assert fast[b] == pytest.approx(np.mean(rows, axis=0))
    [(estimate, low, high)] = stats.bootstrap([(values, weights)], stats.Resamples(12, 300, seed=5), 0.9)
    assert estimate == pytest.approx(np.repeat(values, weights.astype(int), axis=0).mean(axis=0))
    assert low == pytest.approx(np.percentile(fast, 5, axis=0))
    assert high == pytest.approx(np.percentile(fast, 95, axis=0))


def test_interval_width_matches_the_standard_error_of_the_mean():
    values = np.random.default_rng(2).random((400, 1))
    [(estimate, low, high)] = stats.bootstrap([(values, np.ones(400))], stats.Resamples(400, 4000, seed=0), 0.95)
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
    [p] = stats.sign_flip_p([(differences[:, None], np.ones(8))], stats.Resamples(8, 300, seed=0))
    assert p[0] == pytest.approx(exact_sign_flip_p(differences))
    assert list(p) == list(stats.sign_flip_p([(differences[:, None], np.ones(8))], stats.Resamples(8, 300, seed=1))[0])


def test_sign_flip_p_by_random_flips_approaches_the_exact_value():
    differences = np.random.default_rng(4).normal(0.02, 0.1, size=14)
    weights = np.array([1.0, 3.0] * 7)  # flat mode: dialogues with different numbers of references
    [[p]] = stats.sign_flip_p([(differences[:, None], weights)], stats.Resamples(14, 4000, seed=0))  # random
    signs = np.array(list(itertools.product([-1, 1], repeat=14)))
    exact = np.mean(np.abs(signs @ (weights * differences)) >= abs(weights @ differences) - 1e-12)
    assert p == pytest.approx(exact, abs=0.02)


def test_paired_test_of_identical_and_of_clearly_different_models():
    rng = np.random.default_rng(3)
    a = rng.random((10, 2))
    resamples = stats.Resamples(10, 2000, seed=0)
    [(difference, low, high, p)] = stats.paired([(a, a, np.ones(10))], resamples, 0.95)
    assert list(difference) == [0, 0] and list(low) == [0, 0] and list(high) == [0, 0] and list(p) == [1, 1]
    # B is worse on every dialogue: only the two all-same-sign flips of 2**10 are as extreme
    better = a + 0.1 + rng.random((10, 2)) * 0.01
    [(difference, low, high, p)] = stats.paired([(better, a, np.ones(10))], resamples, 0.95)
    assert difference == pytest.approx((better - a).mean(axis=0))
    assert (low > 0).all() and (high < 0.12).all()
    assert list(p) == [2 / 1024] * 2  # 1024 flips <= 2000 resamples: exact


def one_shot(n, resamples, seed, values, weights, confidence):
    """The interval as computed before chunking: every resample drawn at once."""
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (draws + n * np.arange(resamples)[:, None]).ravel()
    counts = np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(float)
    return counts, stats.percentile_interval(stats.weighted_means(values, weights, counts), confidence)


@pytest.mark.parametrize("chunk", [1, 7, 13 * 5, 10 ** 6])  # one resample per chunk, uneven chunks, all at once
def test_chunked_resampling_gives_the_numbers_of_drawing_everything_at_once(chunk, monkeypatch):
    rng = np.random.default_rng(6)
    n, count, seed = 13, 257, 9
    values, weights = rng.random((n, 3)), rng.integers(1, 4, size=n).astype(float)
    counts, (low, high) = one_shot(n, count, seed, values, weights, 0.9)
    resamples = stats.Resamples(n, count, seed, chunk=chunk)
    assert np.array_equal(np.concatenate(list(resamples.counts())), counts)  # the same draws, bit for bit
    monkeypatch.setattr(stats, "HELD", count * 3)  # one item per pass: three passes over the draws
    results = stats.bootstrap([(values, weights), (values[:, ::-1], weights), (values, np.ones(n))], resamples, 0.9)
    # the same draws and the same arithmetic per resample; approx only for the BLAS summation order
    assert results[0][1] == pytest.approx(low, rel=1e-12) and results[0][2] == pytest.approx(high, rel=1e-12)
    assert results[1][1] == pytest.approx(low[::-1], rel=1e-12)
    # the paired test's random flips: the same signs in chunks as at once
    differences = rng.normal(0.01, 0.1, size=(n, 3))
    at_once = np.random.default_rng(seed).choice([-1.0, 1.0], size=(count, n))
    assert np.array_equal(np.concatenate(list(resamples.signs())), at_once)
    [p] = stats.sign_flip_p([(differences, weights)], resamples)
    observed = np.abs(weights @ differences) / weights.sum()
    extreme = (np.abs((at_once * weights) @ differences) / weights.sum() >= observed - 1e-12).sum(axis=0)
    assert list(p) == list((1 + extreme) / (1 + count))


def test_memory_of_a_million_resamples_is_one_chunk_of_draws():
    resamples = stats.Resamples(500, 1_000_000, seed=0)  # the bound params allow, on DialogSum's test split
    first = next(resamples.counts())
    assert first.shape == (stats.CHUNK // 500, 500) and first.nbytes <= 8 * stats.CHUNK
    assert next(resamples.signs()).nbytes <= 8 * stats.CHUNK
    # every chunk of the exact test too: 2**20 sign vectors of 20 dialogues come in pieces
    exact = stats.Resamples(20, 2 ** 20, seed=0)
    assert exact.exact and max(len(signs) for signs in exact.signs()) == stats.CHUNK // 20


def test_holm_on_p_values_worked_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running max: 0.02, 0.03, 0.06, 0.06
    assert stats.holm(np.array([0.01, 0.04, 0.03, 0.005])) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1, ties kept together, shape kept (a pairs x variants table is one family)
    assert stats.holm(np.array([[0.5, 0.2], [0.2, 1.0]])) == pytest.approx(np.array([[1.0, 0.8], [0.8, 1.0]]))
    # one test: no correction; twelve equal p-values: each times 12
    assert stats.holm(np.array([0.03])) == pytest.approx([0.03])
    assert stats.holm(np.full(12, 0.004)) == pytest.approx(np.full(12, 0.048))
    # never below the raw p, never above 1, and order preserving
    p = np.random.default_rng(0).random(40) ** 3
    adjusted = stats.holm(p)
    assert (adjusted >= p).all() and (adjusted <= 1).all()
    assert (np.diff(adjusted[np.argsort(p)]) >= 0).all()


def test_the_level_that_goes_with_a_confidence_does_not_call_p_0_05_significant():
    assert stats.alpha(0.95) == 0.05 and not 0.05 < stats.alpha(0.95)
    assert stats.alpha(0.99) == 0.01
