"""Per-head summaries of an attention pattern: entropy and mean attention distance.

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
