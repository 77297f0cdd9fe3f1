"""Inputs and targets (shared/papers/random_features.md): a query x₀ and keys x₁..x_N i.i.d.
uniform on the unit sphere in R^d; targets permutation-invariant in the keys,

    f(x) = (1/N) Σ_i ψ(⟨x₀, x_i⟩) ⟨β, x_i⟩,

with ψ a Hermite polynomial He_k of the rescaled correlation s_i = √d ⟨x₀, x_i⟩ (≈ N(0, 1)) and
⟨β, x_i⟩ rescaled by √d as well, β a fixed unit vector per seed. Degree 0 does not depend on
the query at all; degrees ≥ 1 depend on ⟨x₀, x_i⟩.
"""

from __future__ import annotations

import numpy as np

HERMITE = {  # probabilists' Hermite polynomials He_k
    0: lambda s: np.ones_like(s),
    1: lambda s: s,
    2: lambda s: s**2 - 1,
    3: lambda s: s**3 - 3 * s,
}
TARGETS = {f"psi{k}": k for k in HERMITE}  # target id → degree of ψ


def describe(target: str) -> str:
    k = TARGETS[target]
    psi = {0: "1", 1: "s_i", 2: "s_i² − 1", 3: "s_i³ − 3s_i"}[k]
    return f"{target}: (1/N) Σ_i ({psi}) √d⟨β, x_i⟩"


def sphere(rng: np.random.Generator, shape: tuple, d: int) -> np.ndarray:
    v = rng.standard_normal((*shape, d))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def sample_inputs(rng: np.random.Generator, n: int, n_keys: int, d: int):
    """x₀ (n, d) and keys x (n, N, d), all uniform on the unit sphere."""
    return sphere(rng, (n,), d), sphere(rng, (n, n_keys), d)


def target_values(target: str, beta: np.ndarray, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
    d = x0.shape[-1]
    s = np.sqrt(d) * np.einsum("nd,nid->ni", x0, x)
    b = np.sqrt(d) * (x @ beta)
    return (HERMITE[TARGETS[target]](s) * b).mean(axis=1)
