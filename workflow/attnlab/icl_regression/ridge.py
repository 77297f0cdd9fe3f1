"""The Bayes-optimal in-context predictor: ridge regression on the prompt's L examples.

For β ~ N(0, I_d/d) and noise N(0, σ²) the posterior mean of β is ridge with λ = σ² d:
β̂ = (XᵀX + λ I)⁻¹ Xᵀy, and ŷ_q = β̂ᵀ x_q minimises the expected test MSE.
"""

from __future__ import annotations

import numpy as np


def bayes_lambda(noise_var: float, d: int) -> float:
    return noise_var * d


def ridge_predict(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """x (n, L+1, d), y (n, L+1), query last → ŷ_q (n,) from ridge on the L context pairs."""
    X, Y, xq = x[:, :-1], y[:, :-1], x[:, -1]
    d = X.shape[-1]
    A = np.einsum("nld,nle->nde", X, X) + lam * np.eye(d)
    b = np.einsum("nld,nl->nd", X, Y)
    beta = np.linalg.solve(A, b[..., None])[..., 0]
    return (beta * xq).sum(-1)
