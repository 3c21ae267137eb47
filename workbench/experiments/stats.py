"""Honest summaries: Wilson intervals for accuracy, exact McNemar for paired comparisons, win rates."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (well behaved at 0, 1 and small n)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (a right & b wrong, and the reverse)."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    n: int
    a_only: int
    b_only: int
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def paired_test(a: dict[str, bool], b: dict[str, bool]) -> Paired:
    """McNemar over the cases both sides answered (per-case correctness)."""
    shared = sorted(set(a) & set(b))
    a_only = sum(a[c] and not b[c] for c in shared)
    b_only = sum(b[c] and not a[c] for c in shared)
    return Paired(len(shared), a_only, b_only, mcnemar_exact(a_only, b_only))


def win_rate(wins: int, ties: int, losses: int) -> float | None:
    """Ties count half; None when there were no comparisons."""
    total = wins + ties + losses
    return (wins + ties / 2) / total if total else None


@dataclass(frozen=True)
class PairedScores:
    """Graded scores of two prompts on the same cases: the mean difference (a - b) with a paired bootstrap
    95% interval, and the Wilcoxon signed-rank p-value (scipy)."""

    n: int
    mean_difference: float | None
    low: float | None
    high: float | None
    p_value: float | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 0.05


BOOTSTRAP_ROUNDS = 10_000


def paired_scores(a: dict[str, float], b: dict[str, float], seed: int = 0) -> PairedScores:
    import numpy as np
    from scipy.stats import wilcoxon

    shared = sorted(set(a) & set(b))
    if not shared:
        return PairedScores(0, None, None, None, None)
    differences = np.array([a[c] - b[c] for c in shared], dtype=float)
    rng = np.random.default_rng(seed)
    rows = max(1, min(BOOTSTRAP_ROUNDS, 2_000_000 // len(differences)))  # at most ~16 MB of indices at a time
    means = np.concatenate(
        [
            differences[
                rng.integers(0, len(differences), (min(rows, BOOTSTRAP_ROUNDS - start), len(differences)))
            ].mean(axis=1)
            for start in range(0, BOOTSTRAP_ROUNDS, rows)
        ]
    )
    low, high = (float(x) for x in np.quantile(means, [0.025, 0.975]))
    p_value = 1.0 if not differences.any() else float(wilcoxon(differences, zero_method="wilcox").pvalue)
    return PairedScores(len(shared), float(differences.mean()), low, high, p_value)
