"""The spec's analytic formulas (shared/papers/distributed_attention.md, checks D2 and D3), per
batch element and per layer, fp32 (4 bytes)."""

from __future__ import annotations

import math

METHODS = ("head_parallel", "ring", "ulysses")
SCORE_CAP_BYTES = 64 * 2**20  # D2: a fixed per-rank cap of 64 MB of scores
BYTES = 4


def score_elements(method: str, L: int, P: int, H: int) -> int:
    """D2: the per-rank peak score buffer, H·(L/P)² for ring, (H/P)·L² for head-parallel/Ulysses."""
    if method == "ring":
        return H * (L // P) ** 2
    if method in ("head_parallel", "ulysses", "dense"):
        return H // P * L * L
    raise ValueError(method)


def bytes_sent(method: str, L: int, P: int, H: int, d_head: int) -> int | None:
    """D3: bytes one rank sends in a forward pass. None where the spec gives no formula
    (head-parallel's all_reduce: its wire volume depends on the backend's algorithm)."""
    if method == "ring":
        return (P - 1) * 2 * (L // P) * H * d_head * BYTES
    if method == "ulysses":
        return round(4 * (P - 1) / P * (L // P) * H * d_head * BYTES)
    return None


def max_feasible_length(method: str, P: int, H: int, cap_bytes: int = SCORE_CAP_BYTES) -> int:
    """The largest L (a multiple of P) whose per-rank score buffer fits `cap_bytes` (D2)."""
    if method == "ring":  # H·(L/P)²·4 ≤ cap
        return P * math.isqrt(cap_bytes // (BYTES * H))
    per_rank_heads = H // P  # (H/P)·L²·4 ≤ cap
    return math.isqrt(cap_bytes // (BYTES * per_rank_heads)) // P * P
