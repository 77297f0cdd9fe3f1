"""Linear attention as a Hebbian associative memory (arXiv 2508.08289, Sec. 3):

    M = Σ_i v_i k_iᵀ,   retrieval of pair j: M k_j = v_j + Σ_{i≠j} (k_i·k_j) v_i,

followed by clean-up to the nearest stored value. The crosstalk term is what limits capacity.
"""

from __future__ import annotations

import numpy as np


def random_unit(rng: np.random.Generator, n: int, dim: int, dtype=np.float64) -> np.ndarray:
    """n vectors drawn uniformly from the unit sphere in R^dim (rows)."""
    v = rng.standard_normal((n, dim), dtype=dtype)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def hebbian_memory(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """M = Σ_i v_i k_iᵀ, (d_v, d_k), from keys (N, d_k) and values (N, d_v)."""
    return values.T @ keys


def retrieve(memory: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For every stored key k_j, the index of the stored value nearest (Euclidean) to M k_j."""
    out = keys @ memory.T  # (N, d_v): row j is M k_j
    # ‖o − v_i‖² = ‖o‖² − 2 o·v_i + ‖v_i‖²; ‖o‖² is the same for every i
    dist = -2.0 * out @ values.T + (values**2).sum(1)[None, :]
    return dist.argmin(axis=1)


def retrieval_correct(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Boolean (N,): whether pair j is retrieved correctly after clean-up."""
    return retrieve(hebbian_memory(keys, values), keys, values) == np.arange(len(keys))


def interference_bound(keys: np.ndarray) -> float:
    """max_j Σ_{i≠j} |k_i·k_j|: below 1, every unit-norm retrieval keeps v_j's weight above
    the total crosstalk weight (the worst-case guarantee)."""
    g = np.abs(keys @ keys.T)
    np.fill_diagonal(g, 0.0)
    return float(g.sum(axis=1).max()) if len(keys) > 1 else 0.0
