"""Per-head summaries of an attention pattern: entropy, mean attention distance (1-D, in
positions), previous-token attention, and mean spatial distance (2-D, in patches, for image tokens).

For unnormalised (sigmoid) attention each row is first rescaled to sum to one; rows with no mass
are skipped. Both are averaged over queries (and, by the caller, over sequences).
"""

from __future__ import annotations

import numpy as np


def _rows(pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A = np.clip(np.asarray(pattern, dtype=float), 0.0, None)
    mass = A.sum(-1, keepdims=True)
    return A / np.where(mass > 0, mass, 1.0), mass[..., 0] > 0


def attention_entropy(pattern: np.ndarray) -> np.ndarray:
    """(..., query, key) -> (...): mean over queries of −Σ_j p_ij log p_ij (nats)."""
    P, has = _rows(pattern)
    H = -(P * np.log(np.where(P > 0, P, 1.0))).sum(-1)
    return (H * has).sum(-1) / np.maximum(has.sum(-1), 1)


def mean_attention_distance(pattern: np.ndarray) -> np.ndarray:
    """(..., query, key) -> (...): mean over queries of Σ_j p_ij · (i − j), in positions."""
    P, has = _rows(pattern)
    T = P.shape[-1]
    dist = np.arange(T)[:, None] - np.arange(T)[None, :]  # i − j
    D = (P * dist).sum(-1)
    return (D * has).sum(-1) / np.maximum(has.sum(-1), 1)


def previous_token_attention(pattern: np.ndarray) -> np.ndarray:
    """(..., query, key) -> (...): mean over queries i ≥ 1 of p_{i, i−1}, the weight on the token just
    before (1 for a pure previous-token head, the first half of an induction circuit; 0 for a head
    that never looks one back)."""
    P, has = _rows(pattern)
    if P.shape[-1] < 2:
        return np.zeros(P.shape[:-2])
    prev = np.diagonal(P, offset=-1, axis1=-2, axis2=-1)  # (..., T - 1): p_{i, i-1} for i = 1..T-1
    has = has[..., 1:]
    return (prev * has).sum(-1) / np.maximum(has.sum(-1), 1)


def mean_spatial_distance(pattern: np.ndarray, grid_rc) -> np.ndarray:
    """(..., query, key) -> (...): mean over grid queries of Σ_j p_ij · ‖rc_i − rc_j‖, the 2-D
    (Euclidean) distance in patches between grid tokens. grid_rc (T, 2) gives each token's (row,
    col) on the patch grid, NaN or negative for tokens without one (CLS, text); only grid queries
    count, and each row is renormalised over the grid keys (rows with no mass there are skipped)."""
    A = np.asarray(pattern, dtype=float)
    rc = np.asarray(grid_rc, dtype=float)
    T = A.shape[-1]
    if A.shape[-2] != T or rc.shape != (T, 2):
        raise ValueError(f"mean_spatial_distance: a square (..., T, T) pattern and grid_rc (T, 2), "
                         f"got {A.shape} and {rc.shape}")
    grid = ~np.isnan(rc).any(-1) & (np.nan_to_num(rc, nan=-1.0) >= 0).all(-1)
    idx = np.flatnonzero(grid)
    P, has = _rows(A[..., idx[:, None], idx[None, :]])
    dist = np.hypot(*(rc[idx][:, None, :] - rc[idx][None, :, :]).transpose(2, 0, 1))
    D = (P * dist).sum(-1)
    return (D * has).sum(-1) / np.maximum(has.sum(-1), 1)
