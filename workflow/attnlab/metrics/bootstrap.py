"""Percentile bootstrap intervals over cases (the unit that varies: a generated case, pair or
sequence), for a mean and for a paired difference of means."""

from __future__ import annotations

import numpy as np


def bootstrap_mean(values, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the percentile bootstrap interval of the mean; NaNs are dropped."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    a = (1 - level) / 2
    return float(x.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def bootstrap_paired_diff(a, b, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of mean(a - b) over cases where both are defined (paired resampling)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    return bootstrap_mean(a[ok] - b[ok], n_boot, seed, level)


def interval_verdict(low: float, high: float, want: int) -> bool | None:
    """A claimed direction checked on an interval of a difference: True when the interval lies
    strictly on the wanted side of zero (want = +1: above, -1: below), False when strictly on the
    other side, None when it contains zero or is undefined (INCONCLUSIVE)."""
    if np.isnan(low) or np.isnan(high):
        return None
    above, below = low > 0, high < 0
    if above or below:
        return bool(above if want > 0 else below)
    return None


def interval_verdict_min(low: float, mean: float, high: float, delta: float) -> bool | None:
    """A directional claim "effect >= delta" checked on the 95% interval (low, high) of a paired
    difference with mean `mean` (vlm_design §6): True when low > 0 and mean >= delta; False when
    high < delta (the effect is shown smaller than claimed, or of the wrong sign); None otherwise
    or when any value is undefined (INCONCLUSIVE)."""
    if any(np.isnan(v) for v in (low, mean, high, delta)):
        return None
    if low > 0 and mean >= delta:
        return True
    if high < delta:
        return False
    return None
