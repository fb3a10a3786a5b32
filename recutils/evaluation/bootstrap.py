"""Paired bootstrap confidence intervals between two models' per-user metric values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedCI:
    mean_diff: float  #: mean(a − b) over users
    low: float
    high: float
    level: float
    n_users: int
    n_boot: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.mean_diff:+.4f} [{self.low:+.4f}, {self.high:+.4f}] ({self.level:.0%} CI, {self.n_users} users)"


def paired_bootstrap_ci(a, b, n_boot: int = 2000, level: float = 0.95,
                        rng: np.random.Generator | int | None = 0) -> PairedCI:
    """Percentile bootstrap CI of mean(a − b), resampling users with replacement.

    ``a`` and ``b`` are per-user values of one metric for two models on the same users
    (NaN rows — non-evaluable users — are dropped pairwise).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"per-user arrays differ in shape: {a.shape} vs {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    d = a[ok] - b[ok]
    n = len(d)
    if n == 0:
        raise ValueError("no user has a value for both models")
    rng = np.random.default_rng(rng)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for s in range(0, n_boot, chunk):
        e = min(n_boot, s + chunk)
        idx = rng.integers(0, n, size=(e - s, n))
        means[s:e] = d[idx].mean(1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return PairedCI(float(d.mean()), float(lo), float(hi), level, n, n_boot)
