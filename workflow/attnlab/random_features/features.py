"""Random features of the two models compared (arXiv 2307.11353, Sec. 2):

random-feature attention (RFA), M heads with frozen query-key matrices W_m and trainable
value vectors v_m ∈ R^d:
    f(x) = Σ_m (1/N) Σ_i σ(x₀ᵀ W_m x_i) v_mᵀ x_i,
linear in the M·d features φ_{m,:}(x) = (1/N) Σ_i σ(x₀ᵀ W_m x_i) x_i;

random-feature MLP on the concatenated input [x₀; x₁; …; x_N] ∈ R^{d(N+1)}:
    f(x) = Σ_j a_j σ(w_jᵀ [x₀; …; x_N]),
given the same number of trainable weights (width M·d). σ = ReLU.
"""

from __future__ import annotations

import numpy as np


def relu(t: np.ndarray) -> np.ndarray:
    return np.maximum(t, 0.0)


def rfa_weights(rng: np.random.Generator, heads: int, d: int, qk_mean: float) -> np.ndarray:
    """W_m = qk_mean · I + G_m / √d, G_m standard Gaussian: (M, d, d). With qk_mean = 1 the
    mean part ⟨x₀, x_i⟩ and the random part of the score have the same variance on the sphere;
    qk_mean = 0 is the zero-mean ("unbiased") distribution."""
    return qk_mean * np.eye(d) + rng.standard_normal((heads, d, d)) / np.sqrt(d)


def rfa_features(w: np.ndarray, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(n, M·d) features for query x₀ (n, d) and keys x (n, N, d)."""
    n, N, d = x.shape
    heads = w.shape[0]
    a = (x0 @ w.transpose(1, 0, 2).reshape(d, heads * d)).reshape(n, heads, d)  # x₀ᵀ W_m
    scores = a @ x.transpose(0, 2, 1)  # (n, M, N): x₀ᵀ W_m x_i
    return (relu(scores) @ x).reshape(n, heads * d) / N


def mlp_weights(rng: np.random.Generator, width: int, d: int, n_keys: int) -> np.ndarray:
    """w_j ~ N(0, I / (N+1)): unit-variance pre-activations on N+1 unit vectors. (width, d(N+1))"""
    return rng.standard_normal((width, d * (n_keys + 1))) / np.sqrt(n_keys + 1)


def mlp_features(w: np.ndarray, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
    z = np.concatenate([x0[:, None, :], x], axis=1).reshape(len(x0), -1)
    return relu(z @ w.T)
