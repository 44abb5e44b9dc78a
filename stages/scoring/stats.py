"""Bootstrap intervals and paired tests that resample dialogues: numpy, seeded, vectorized, in bounded memory.

A score is a weighted mean of per-dialogue values (see rouge.PerDialogue); resampling whole dialogues
keeps a dialogue's references together, since they share one prediction and are not independent.

The draws are made chunk by chunk from one seeded stream, so memory stays O(chunk x dialogues) however many
resamples params ask for (a million resamples of 500 dialogues at once would need tens of GB); numpy's
generator gives the same numbers drawn in chunks as drawn at once, so the results do not depend on the chunk.
"""
from collections.abc import Iterator

import numpy as np

CHUNK = 2 ** 21  # draws per chunk: each (rows, dialogues) array of a chunk is 16 MB
HELD = 2 ** 25   # resampled means kept at once over all items (256 MB); more items take another pass


class Resamples:
    """`count` bootstrap resamples of `n` dialogues, and the paired test's sign flips, both from `seed`."""

    def __init__(self, n: int, count: int, seed: int, chunk: int = CHUNK):
        self.n, self.count, self.seed = n, count, seed
        self.rows = max(1, chunk // max(n, 1))

    def __len__(self) -> int:
        return self.count

    def _spans(self, total: int) -> Iterator[tuple[int, int]]:
        for start in range(0, total, self.rows):
            yield start, min(start + self.rows, total)

    def counts(self) -> Iterator[np.ndarray]:
        """(rows, n) chunks: how many times each dialogue is drawn in each resample."""
        rng = np.random.default_rng(self.seed)
        for start, stop in self._spans(self.count):
            draws = rng.integers(0, self.n, size=(stop - start, self.n))
            flat = (draws + self.n * np.arange(stop - start)[:, None]).ravel()
            yield np.bincount(flat, minlength=(stop - start) * self.n).reshape(stop - start, self.n).astype(float)

    @property
    def exact(self) -> bool:
        """Whether every one of the 2**n sign flips fits in `count`: then the test tries them all."""
        return self.n < 63 and 2 ** self.n <= self.count

    def signs(self) -> Iterator[np.ndarray]:
        """(rows, n) chunks of +-1: every sign vector when `exact`, else `count` random ones."""
        if self.exact:
            for start, stop in self._spans(2 ** self.n):
                yield 1.0 - 2.0 * ((np.arange(start, stop)[:, None] >> np.arange(self.n)) & 1)
        else:
            rng = np.random.default_rng(self.seed)
            for start, stop in self._spans(self.count):
                yield rng.choice([-1.0, 1.0], size=(stop - start, self.n))


def weighted_means(values: np.ndarray, weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(rows, k) weighted mean of `values` (n, k) in every resample of `counts` (rows, n)."""
    drawn = counts * weights
    return drawn @ values / drawn.sum(axis=1, keepdims=True)


def resampled_means(items: list[tuple[np.ndarray, np.ndarray]], resamples: Resamples) -> list[np.ndarray]:
    """For each (values, weights) of `items`, its (resamples, k) weighted means: as many items per pass over
    the draws as HELD allows, so the draws are made once for all of them where memory permits."""
    out: list[np.ndarray] = []
    while len(out) < len(items):
        batch, size = [], 0
        for values, weights in items[len(out):]:
            if batch and size + len(resamples) * values.shape[1] > HELD:
                break
            batch.append((values, weights))
            size += len(resamples) * values.shape[1]
        means = [np.empty((len(resamples), values.shape[1])) for values, _ in batch]
        start = 0
        for counts in resamples.counts():
            for filled, (values, weights) in zip(means, batch):
                filled[start:start + len(counts)] = weighted_means(values, weights, counts)
            start += len(counts)
        out += means
    return out


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail], axis=0)
    return low, high


def bootstrap(items, resamples: Resamples, confidence: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(estimate, low, high), each of shape (k,), for each (values, weights) of `items`."""
    out = []
    for (values, weights), means in zip(items, resampled_means(items, resamples)):
        low, high = percentile_interval(means, confidence)
        out.append((weights @ values / weights.sum(), low, high))
    return out


def sign_flip_p(items: list[tuple[np.ndarray, np.ndarray]], resamples: Resamples) -> list[np.ndarray]:
    """Two-sided paired permutation test of each (differences, weights): under "no difference" each dialogue's
    A-B difference is as likely to have the other sign; p = share of sign flips whose mean is at least as far
    from zero as the observed one. Every flip is tried when there are no more than `resamples` of them (exact
    p); otherwise `resamples` random flips, counting the observed one too (so p is never 0)."""
    if not items:
        return []
    observed = [np.abs(weights @ differences) / weights.sum() for differences, weights in items]
    extreme = [np.zeros(differences.shape[1]) for differences, _ in items]
    tried = 0
    for signs in resamples.signs():
        tried += len(signs)
        for i, (differences, weights) in enumerate(items):
            flipped = np.abs((signs * weights) @ differences) / weights.sum()
            # A small tolerance: a flip that reproduces the observed mean must count despite float rounding.
            extreme[i] += (flipped >= observed[i] - 1e-12).sum(axis=0)
    return [count / tried if resamples.exact else (1 + count) / (1 + tried) for count in extreme]


def paired(items, resamples: Resamples, confidence: float) -> list[tuple]:
    """For each (values_a, values_b, weights) of `items`, A minus B on the same dialogues: (difference, low,
    high, p), each of shape (k,). The interval and the p-value come from different resamplings (dialogues
    drawn with replacement; signs flipped), so near the edge they can disagree: callers draw conclusions from
    the p-value alone (after Holm's correction) and show the interval as an estimate of the size."""
    differences = [(a - b, weights) for a, b, weights in items]
    return [(*interval, p) for interval, p in zip(bootstrap(differences, resamples, confidence),
                                                  sign_flip_p(differences, resamples))]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (any shape): the i-th smallest of m is multiplied
    by m - i + 1, made non-decreasing in that order and capped at 1. Rejecting where the adjusted p < alpha
    keeps the chance of any false claim in the family at or below alpha, without assuming independence."""
    flat = np.asarray(p, dtype=float).ravel()
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * (len(flat) - np.arange(len(flat)))
    adjusted = np.empty_like(flat)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted.reshape(np.shape(p))


def alpha(confidence: float) -> float:
    """The test's level that goes with the intervals' confidence: 0.05 for 0.95. Rounded, since 1 - 0.95 is
    0.050000000000000044 in floats, which would call p = 0.05 significant."""
    return round(1 - confidence, 12)
