"""Closed-form ridge regression on fixed features, for a grid of penalties:

    v̂ = argmin (1/n)‖Φv − y‖² + λ‖v‖² = (ΦᵀΦ + nλI)⁻¹ Φᵀy = Φᵀ(ΦΦᵀ + nλI)⁻¹ y,

in the primal form when n ≥ P features and in the dual form otherwise; the Gram matrix is
formed once per design and reused for every λ and every target column.
"""

from __future__ import annotations

import numpy as np


def ridge_path(phi: np.ndarray, y: np.ndarray, lams) -> list[np.ndarray]:
    """Weights (P, T) for each λ, from features phi (n, P) and targets y (n, T)."""
    n, p = phi.shape
    y2 = y.reshape(n, -1)
    if n >= p:
        gram, rhs = phi.T @ phi, phi.T @ y2
        sols = [np.linalg.solve(gram + n * lam * np.eye(p), rhs) for lam in lams]
    else:
        gram = phi @ phi.T
        sols = [phi.T @ np.linalg.solve(gram + n * lam * np.eye(n), y2) for lam in lams]
    return [s.reshape((p,) + y.shape[1:]) for s in sols]


def ridge_fit(phi: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    return ridge_path(phi, y, [lam])[0]
