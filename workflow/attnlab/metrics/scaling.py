"""Cost curves of attention operators: CPU-time sweeps over sequence length, their log-log slope
with a confidence interval, the crossover length against dense attention, and the activation
memory an operator saves for its backward pass.

    times = sweep(lambda L: (lambda: op(*inputs(L))), lengths=[1024, 2048, 4096, 8192])
    fit = power_law(times["L"], times["seconds"])          # fit.slope, fit.low, fit.high
    crossover(power_law(L, t_dense), power_law(L, t_op))    # L where the two curves meet

Timing (`time_call`): `time.process_time` of the calling process (CPU time, so a second process
on the other core does not add to it, though it still slows the shared caches), one torch thread,
warm-up calls first, the median of `repeats`. A sweep is only meaningful on an otherwise idle
machine: the workflow gives timing jobs every core (see the experiments that use it).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

# two-sided 95% quantiles of Student's t by degrees of freedom (1..30); the normal's beyond
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]

# The slope a dense (quadratic) attention must reach for a sweep to be in its quadratic regime:
# below it, fixed per-call costs still dominate and no exponent measured beside it means anything.
QUADRATIC_FLOOR = 1.75


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"a confidence interval needs at least 1 degree of freedom, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass(frozen=True)
class PowerLaw:
    """y ≈ exp(intercept) · x^slope, fitted by least squares on log-log axes; [low, high] is the
    slope's 95% confidence interval (nan with two points)."""

    slope: float
    intercept: float
    low: float
    high: float
    n: int

    def at(self, x: float) -> float:
        return math.exp(self.intercept) * x**self.slope

    def __str__(self) -> str:
        if math.isnan(self.low):
            return f"{self.slope:.2f}"
        return f"{self.slope:.2f} [{self.low:.2f}, {self.high:.2f}]"


def power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """The least-squares line of log y against log x, with the slope's 95% interval."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"a power law needs two or more (x, y) pairs, got {len(x)} x and {len(y)} y")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power law needs positive x and y")
    lx, ly = np.log(x), np.log(y)
    slope, intercept = np.polyfit(lx, ly, 1)
    n = len(x)
    if n < 3:
        return PowerLaw(float(slope), float(intercept), float("nan"), float("nan"), n)
    resid = ly - (slope * lx + intercept)
    se = math.sqrt(float(resid @ resid) / (n - 2) / float(((lx - lx.mean()) ** 2).sum()))
    half = t_quantile(n - 2) * se
    return PowerLaw(float(slope), float(intercept), float(slope - half), float(slope + half), n)


def doubling(x: Sequence[float]) -> bool:
    """Whether the lengths double from one to the next (what `beyond_linear` needs)."""
    return len(x) >= 3 and all(b == 2 * a for a, b in zip(x, x[1:]))


def beyond_linear(x: Sequence[float], y: Sequence[float], rel: float = 0.01) -> float | None:
    """The exponent p of the part of y that grows faster than x, for y = a + b·x + c·x^p on lengths that
    double: the second difference D(x) = y(2x) − 2·y(x) = −a + c·(2^p − 2)·x^p cancels the linear term,
    and p is the log-log slope of D. None when y is affine in x (every |D| ≤ rel·y(2x)); nan when D
    is not positive throughout, so no power law describes it. Meant for exact counts (bytes), where
    a difference carries no timing noise."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not doubling(x.tolist()) or len(y) != len(x):
        raise ValueError(f"beyond_linear needs three or more lengths that double, got {x.tolist()}")
    D = y[1:] - 2 * y[:-1]
    if np.all(np.abs(D) <= rel * y[1:]):
        return None
    if np.any(D <= 0):
        return float("nan")
    return power_law(x[:-1], D).slope


def crossover(dense: PowerLaw, other: PowerLaw) -> float | None:
    """The length at which two fitted cost curves meet (beyond it the one with the smaller slope
    is cheaper); None when the slopes are equal; inf when the curves meet beyond any float (nearly
    parallel fits)."""
    if math.isclose(dense.slope, other.slope):
        return None
    log_l = (other.intercept - dense.intercept) / (dense.slope - other.slope)
    return math.inf if log_l > 700 else math.exp(log_l)


def in_quadratic_regime(dense: PowerLaw, floor: float = QUADRATIC_FLOOR) -> bool:
    """Whether the dense baseline's measured slope shows the sweep in its quadratic regime."""
    return dense.slope >= floor


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The median CPU time (time.process_time, seconds) of `fn()` over `repeats` calls, after
    `warmup` untimed calls."""
    import torch

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
    return statistics.median(times)


def sweep(make_call: Callable[[int], Callable[[], object]], lengths: Sequence[int], repeats: int = 5,
          warmup: int = 1, clock: Callable[..., float] = time_call) -> list[dict]:
    """[{"L", "seconds"}, ...]: `clock(make_call(L))` for each length (make_call builds the
    inputs outside the timed call)."""
    return [{"L": int(L), "seconds": clock(make_call(int(L)), repeats=repeats, warmup=warmup)} for L in lengths]


def saved_activation_bytes(fn: Callable[[], "object"], exclude=()) -> int:
    """The bytes of the distinct tensors autograd saves for the backward pass while `fn()` runs
    (the activation memory an operator costs in training; views of one storage count once);
    tensors sharing storage with `exclude` (e.g. the module's parameters) are not counted."""
    import torch

    storages: dict[int, int] = {}
    skip = {t.untyped_storage().data_ptr() for t in exclude}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        if s.data_ptr() not in skip:
            storages[s.data_ptr()] = max(storages.get(s.data_ptr(), 0), s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


# --- analytic cost -------------------------------------------------------------------------------

def attention_flops(mechanism: str, L: int, d: int, **opts) -> float:
    """Multiply-adds x 2 of one head's forward attention (scores and weighted values) at length L:
    dense 4·L²·d, a causal sliding window of w keys 4·L·w·d, a span search over b = √L blocks
    keeping k of them (superlinear, N=2) 4·L·(L/b + k·b)·d; the Grassmann mixer (rank r, |W|
    offsets; d = d_model) 2·L·(d·r + |W|·r(r−1)/2·(3 + d) + 2d²); a chunked decay scan (lightnet,
    decay; chunk C) 4·L·(C + d)·d; GAAM 2·L²·d·(2 + 4G); RCMHA 4·L²·d + 2·L·(2L−1)·d."""
    if mechanism in ("softmax", "sigmoid", "dense", "meta", "moh", "dynamic_mask"):
        return 4.0 * L * L * d  # dense emulations: every score is computed
    if mechanism == "sliding_window":
        return 4.0 * L * min(opts.get("window", 32), L) * d
    if mechanism == "grassmann":  # the whole mixer: reduction, |W| Plücker pairs and projections, gate
        r, n_w = opts.get("rank", 32), len(opts.get("windows", (1, 2, 4, 8, 12, 16)))
        return 2.0 * L * (d * r + n_w * (r * (r - 1) // 2) * (3 + d) + 2 * d * d)
    if mechanism in ("lightnet", "decay"):  # chunked scan: exact C x C blocks, a d x d state between them
        return 4.0 * L * (opts.get("chunk", 64) + d) * d
    if mechanism == "gaam":  # a weight per (query, key, feature), G Gaussians each
        return 2.0 * L * L * d * (2 + 4 * opts.get("gaussians", 2))
    if mechanism == "rcmha":  # dense scores and values, plus the relative table (2L−1 distances)
        return 4.0 * L * L * d + 2.0 * L * (2 * L - 1) * d
    if mechanism == "superlinear":
        b = opts.get("block") or round(math.sqrt(L))
        return 4.0 * L * (L / b + opts.get("k", 2) * b) * d
    raise ValueError(f"no analytic cost for {mechanism!r}")


def analytic_slope(mechanism: str, lengths: Sequence[int], d: int = 64, **opts) -> float:
    """The log-log slope of attention_flops over `lengths` (the theory a measured slope meets)."""
    return power_law(lengths, [attention_flops(mechanism, L, d, **opts) for L in lengths]).slope
