"""Capacity of a Hebbian memory under three criteria (shared/papers/pavlov.md), and its
log-log slope against the key dimension d_k.

For N stored pairs of random unit keys (d_k) and values (d_v), over independent trials:
  (a) "typical": mean retrieval accuracy ≥ 95%;
  (b) "all pairs": every pair retrieved correctly in ≥ 90% of trials;
  (c) "worst case": interference bound max_j Σ_{i≠j} |k_i·k_j| < 1 in ≥ 90% of trials.
Capacity = the largest N meeting the criterion, found by exponential search then bisection
(each criterion degrades with N in expectation). Trial t at (d_k, N) draws from its own seeded
stream, so a capacity does not depend on the order in which the search visits N, and a
trial-fraction criterion may stop as soon as its outcome is decided.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np

from attnlab.pavlov.memory import interference_bound, random_unit, retrieval_correct

MEAN_ACCURACY_MIN = 0.95  # (a)
ALL_CORRECT_TRIALS_MIN = 0.90  # (b)
BOUND_TRIALS_MIN = 0.90  # (c)
CRITERIA = ("typical", "all_pairs", "worst_case")

Draw = Callable[[int, int, int, int, int], tuple[np.ndarray, np.ndarray]]


def random_draw(seed: int, d_k: int, d_v: int, n_pairs: int, trial: int):
    """Trial `trial` of N random unit key/value pairs (float32: the retrieval is a ranking)."""
    rng = np.random.default_rng([seed, d_k, n_pairs, trial])
    return random_unit(rng, n_pairs, d_k, np.float32), random_unit(rng, n_pairs, d_v, np.float32)


def fraction_reaches(events: Iterable[bool], trials: int, fraction: float) -> bool:
    """Whether at least `fraction` of `trials` events are true; stops once that is decided."""
    need = math.ceil(fraction * trials)
    hits = misses = 0
    for ok in events:
        hits, misses = hits + bool(ok), misses + (not ok)
        if hits >= need:
            return True
        if misses > trials - need:
            return False
    return hits >= need


def meets(criterion: str, draw: Draw, seed: int, d_k: int, d_v: int, n: int, trials: int,
          min_pairs: int) -> bool:
    """Whether N = n pairs meet the criterion. (a) averages over ⌈min_pairs / N⌉ trials (at most
    `trials`): with many pairs per trial, fewer trials pin the mean down as well."""
    if criterion == "typical":
        t_a = min(trials, max(1, math.ceil(min_pairs / n)))
        acc = np.mean([retrieval_correct(*draw(seed, d_k, d_v, n, t)).mean() for t in range(t_a)])
        return bool(acc >= MEAN_ACCURACY_MIN)
    if criterion == "all_pairs":
        events = (retrieval_correct(*draw(seed, d_k, d_v, n, t)).all() for t in range(trials))
        return fraction_reaches(events, trials, ALL_CORRECT_TRIALS_MIN)
    if criterion == "worst_case":
        events = (interference_bound(draw(seed, d_k, d_v, n, t)[0]) < 1.0 for t in range(trials))
        return fraction_reaches(events, trials, BOUND_TRIALS_MIN)
    raise ValueError(f"unknown criterion {criterion!r} (choose from {CRITERIA})")


def largest_passing(passes: Callable[[int], bool], n_max: int) -> int:
    """The largest N in [1, n_max] with passes(N), assuming passes is monotone (true then false).
    0 if even N=1 fails; n_max if n_max passes."""
    if not passes(1):
        return 0
    lo, hi = 1, 2
    while hi <= n_max and passes(hi):  # exponential search for a failing N
        lo, hi = hi, hi * 2
    if hi > n_max:
        if passes(n_max):
            return n_max
        hi = n_max
    while hi - lo > 1:  # invariant: passes(lo), not passes(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if passes(mid) else (lo, mid)
    return lo


def capacity(criterion: str, seed: int, d_k: int, d_v: int, trials: int, min_pairs: int,
             n_max: int, draw: Draw = random_draw) -> int:
    return largest_passing(
        lambda n: meets(criterion, draw, seed, d_k, d_v, n, trials, min_pairs), n_max)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the exponent of a power law y ∝ x^slope)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.any(y <= 0):
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
