"""Capacity of a Hebbian memory under three criteria (shared/papers/pavlov.md), and its
log-log slope against the key dimension d_k.

For N stored pairs of random unit keys (d_k) and values (d_v), over independent trials:
  (a) "typical": mean retrieval accuracy ≥ 95%;
  (b) "all pairs": every pair retrieved correctly in ≥ 90% of trials;
  (c) "worst case": interference bound max_j Σ_{i≠j} |k_i·k_j| < 1 in ≥ 90% of trials.
The search finds the largest integer N meeting the criterion (exponential search then bisection;
each criterion degrades with N in expectation). Trial t at (d_k, N) draws from its own seeded
stream, so the search does not depend on the order in which it visits N, and a trial-fraction
criterion may stop as soon as its outcome is decided. The capacity is then the interpolated
crossing: the criterion's statistic (mean accuracy, or the fraction of trials that hold) is
measured in full at that N and at N + 1 and the N where it crosses its bar is interpolated
linearly between them, so a small capacity (the worst-case criterion at d_k = 16 stores a few
pairs) is not rounded down to an integer, which would bias the log-log slope.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np

from attnlab.metrics.scaling import power_law
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


BARS = {"typical": MEAN_ACCURACY_MIN, "all_pairs": ALL_CORRECT_TRIALS_MIN, "worst_case": BOUND_TRIALS_MIN}


def statistic(criterion: str, draw: Draw, seed: int, d_k: int, d_v: int, n: int, trials: int,
              min_pairs: int) -> float:
    """The criterion's statistic at N = n over every trial (no early stop): (a) the mean retrieval
    accuracy over ⌈min_pairs / N⌉ trials (at most `trials`), (b) the fraction of trials with every
    pair correct, (c) the fraction of trials with interference bound < 1. The criterion holds when
    it reaches BARS[criterion]."""
    if criterion == "typical":
        t_a = min(trials, max(1, math.ceil(min_pairs / n)))
        return float(np.mean([retrieval_correct(*draw(seed, d_k, d_v, n, t)).mean() for t in range(t_a)]))
    if criterion == "all_pairs":
        return float(np.mean([retrieval_correct(*draw(seed, d_k, d_v, n, t)).all() for t in range(trials)]))
    if criterion == "worst_case":
        return float(np.mean([interference_bound(draw(seed, d_k, d_v, n, t)[0]) < 1.0 for t in range(trials)]))
    raise ValueError(f"unknown criterion {criterion!r} (choose from {CRITERIA})")


def interpolated_crossing(n_lo: float, s_lo: float, n_hi: float, s_hi: float, bar: float) -> float:
    """Where a statistic falling from s_lo ≥ bar at n_lo to s_hi < bar at n_hi crosses `bar`,
    linearly interpolated: n_lo + (n_hi − n_lo)·(s_lo − bar)/(s_lo − s_hi)."""
    if not (s_lo >= bar > s_hi and n_hi > n_lo):
        raise ValueError(f"no crossing of {bar} between (N={n_lo}, {s_lo}) and (N={n_hi}, {s_hi})")
    return float(n_lo + (n_hi - n_lo) * (s_lo - bar) / (s_lo - s_hi))


def curve_crossing(ns, stats, bar: float) -> float:
    """The first crossing of `bar` from above along a curve (ns increasing, stats the statistic at
    each n), interpolated between the last n at or above the bar and the first below it. 0 if the
    first point is already below the bar (nothing to interpolate from); ns[-1] if no point is below
    it (capacity censored at the largest n measured)."""
    ns, stats = list(ns), list(stats)
    for i, s in enumerate(stats):
        if s < bar:
            return 0.0 if i == 0 else interpolated_crossing(ns[i - 1], stats[i - 1], ns[i], s, bar)
    return float(ns[-1])


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


def largest_integer(criterion: str, seed: int, d_k: int, d_v: int, trials: int, min_pairs: int,
                    n_max: int, draw: Draw = random_draw) -> int:
    """The largest integer N ≤ n_max meeting the criterion (0 if N = 1 fails)."""
    return largest_passing(
        lambda n: meets(criterion, draw, seed, d_k, d_v, n, trials, min_pairs), n_max)


def crossing_above(criterion: str, lo: int, seed: int, d_k: int, d_v: int, trials: int, min_pairs: int,
                   n_max: int, draw: Draw = random_draw) -> float:
    """The interpolated crossing of the criterion's bar given lo, the largest passing integer N: the
    statistic measured in full at lo and lo + 1, the crossing interpolated between them
    (curve_crossing); n_max when even n_max passes (censored), 0 when N = 1 fails."""
    if lo == 0 or lo >= n_max:
        return float(lo)
    stat = lambda n: statistic(criterion, draw, seed, d_k, d_v, n, trials, min_pairs)  # noqa: E731
    return curve_crossing([lo, lo + 1], [stat(lo), stat(lo + 1)], BARS[criterion])


def capacity(criterion: str, seed: int, d_k: int, d_v: int, trials: int, min_pairs: int,
             n_max: int, draw: Draw = random_draw) -> float:
    """Capacity as the interpolated crossing of the criterion's bar (crossing_above)."""
    lo = largest_integer(criterion, seed, d_k, d_v, trials, min_pairs, n_max, draw)
    return crossing_above(criterion, lo, seed, d_k, d_v, trials, min_pairs, n_max, draw)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the exponent of a power law y ∝ x^slope;
    attnlab.metrics.scaling.power_law), nan when fewer than two points or a capacity of 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.any(y <= 0):
        return float("nan")
    return power_law(x, y).slope
