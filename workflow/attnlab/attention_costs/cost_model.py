"""The cost model of each mechanism's layer as implemented here, and the log-log slope it predicts
over a sweep's lengths (what attention_costs.evaluate checks a measured slope against; see
attention_costs.theory for why an asymptotic exponent is not what a finite sweep measures).
Analysis-stage only: the table reads the slopes from the evaluate step's fits."""

import math
from collections.abc import Callable, Sequence

from attnlab.attention_costs.theory import MECHANISMS
from attnlab.metrics.scaling import attention_flops, power_law


def causal_flash_fraction(L: int) -> float:
    """The share of the L x L work torch's CPU flash kernel computes for causal attention (torch 2.13,
    aten/src/ATen/native/cpu/FlashAttentionKernel.cpp): query blocks of 32 / 64 / 256 rows (L < 192 /
    < 768 / more) each run over the key blocks of 512 columns (all L when L < 512) up to their last
    row, the last block whole."""
    q_split = 256 if L >= 768 else 64 if L >= 192 else 32
    kv_split = 512 if L >= 512 else L
    work = 0
    for m in range(0, L, q_split):
        rows = min(q_split, L - m)
        work += rows * min(L, math.ceil((m + rows) / kv_split) * kv_split)
    return work / (L * L)


def _projections(L: int, d: int) -> float:
    return 8.0 * L * d * d  # q, k, v and output projections: 4 matmuls of (L x d) by (d x d)


def _heads(mechanism: str, L: int, d: int, heads: int, **opts) -> float:
    return heads * attention_flops(mechanism, L, d // heads, **opts)


# the curves whose cost model holds torch's fused causal kernel (its block share)
CAUSAL_KERNEL = ("dense_sdpa_causal", "softmax", "moh", "meta")


def _fused(L: int, d: int, k: Callable[[int], float]) -> float:
    """The fused causal kernel's work at L: the blocks it computes, times `k(L)` (1: exactly their
    multiply-adds; see `exponent_at`'s kernel_exponent)."""
    return 4.0 * L * L * d * causal_flash_fraction(L) * k(L)


# forward multiply-adds x 2 of the whole layer as implemented here, at length L (d = d_model); k scales
# the fused causal kernel's work (exponent_at)
COST_MODEL: dict[str, Callable[[int, int, int, Callable[[int], float]], float]] = {
    "dense_sdpa": lambda L, d, h, k: 4.0 * L * L * d,
    "dense_sdpa_causal": lambda L, d, h, k: _fused(L, d, k),
    "softmax": lambda L, d, h, k: _projections(L, d) + _fused(L, d, k),
    "moh": lambda L, d, h, k: _projections(L, d) + _fused(L, d, k),
    "sigmoid": lambda L, d, h, k: _projections(L, d) + 4.0 * L * L * d,
    "sliding_window": lambda L, d, h, k: _projections(L, d) + 4.0 * L * L * d,
    "dynamic_mask": lambda L, d, h, k: _projections(L, d) + 4.0 * L * L * d,
    # the causal part through the fused kernel, the meta-attention explicit over every pair
    "meta": lambda L, d, h, k: _projections(L, d) + 4.0 * L * L * d + _fused(L, d, k),
    "rcmha": lambda L, d, h, k: _projections(L, d) + _heads("rcmha", L, d, h),
    "superlinear": lambda L, d, h, k: _projections(L, d) + _heads("superlinear", L, d, h),
    # its formula holds its own projections (reduction, Plücker projection, gate)
    "grassmann": lambda L, d, h, k: attention_flops("grassmann", L, d, **MECHANISMS["grassmann"][1]),
    "lightnet": lambda L, d, h, k: _projections(L, d) + _heads("lightnet", L, d, h),
    "decay": lambda L, d, h, k: _projections(L, d) + _heads("decay", L, d, h),
    # the memory-bound instruments: elements touched
    "explicit_pass": lambda L, d, h, k: h * L * L,
    "gather_pass": lambda L, d, h, k: 2 * L * round(L**0.5) * d,
}


def exponent_at(mechanism: str, lengths: Sequence[int], d_model: int, heads: int,
                kernel_exponent: float = 2.0) -> float:
    """The log-log slope of the mechanism's cost model over `lengths`: what the sweep should measure.
    kernel_exponent: the fused kernel's own exponent when it is not 2 (the unmasked instrument's
    measured slope: its time per multiply-add is not constant over the sweep), its work at the longest
    length kept."""
    top = max(lengths)

    def k(L: int) -> float:
        return (L / top) ** (kernel_exponent - 2.0)

    return power_law(lengths, [COST_MODEL[mechanism](int(L), d_model, heads, k) for L in lengths]).slope


