"""Bootstrap intervals and paired tests that resample dialogues: numpy, seeded, vectorized.

A score is a weighted mean of per-dialogue values (see rouge.PerDialogue); resampling whole dialogues
keeps a dialogue's references together, since they share one prediction and are not independent.
"""
import numpy as np


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n): how many times each of n dialogues is drawn in each bootstrap resample."""
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (draws + n * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(float)


def weighted_means(values: np.ndarray, weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(resamples, k) weighted mean of `values` (n, k) in every resample of `counts` (resamples, n)."""
    drawn = counts * weights
    return drawn @ values / drawn.sum(axis=1, keepdims=True)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail], axis=0)
    return low, high


def bootstrap(values, weights, counts, confidence):
    """(estimate, low, high), each of shape (k,)."""
    estimate = weights @ values / weights.sum()
    low, high = percentile_interval(weighted_means(values, weights, counts), confidence)
    return estimate, low, high


def sign_flip_p(differences: np.ndarray, weights: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Two-sided paired permutation test: under "no difference" each dialogue's A-B difference is as
    likely to have the other sign; p = share of sign flips whose mean is at least as far from zero as
    the observed one. Every flip is tried when there are no more than `resamples` of them (exact p);
    otherwise `resamples` random flips, counting the observed one too (so p is never 0)."""
    n = len(weights)
    exact = n < 63 and 2 ** n <= resamples
    if exact:
        signs = 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, n))
    observed = np.abs(weights @ differences) / weights.sum()
    flipped = np.abs((signs * weights) @ differences) / weights.sum()
    # A small tolerance: a flip that reproduces the observed mean must count despite float rounding.
    extreme = (flipped >= observed - 1e-12).sum(axis=0)
    return extreme / len(signs) if exact else (1 + extreme) / (1 + resamples)


def paired(values_a, values_b, weights, counts, confidence, seed):
    """A minus B on the same dialogues: (difference, low, high, p), each of shape (k,)."""
    differences = values_a - values_b
    difference, low, high = bootstrap(differences, weights, counts, confidence)
    return difference, low, high, sign_flip_p(differences, weights, len(counts), seed)
