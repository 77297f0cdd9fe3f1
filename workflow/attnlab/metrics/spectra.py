"""Spectral summaries of a weight matrix (used for OCR's W_OV)."""

from __future__ import annotations

import numpy as np


def singular_values(m) -> np.ndarray:
    return np.linalg.svd(np.asarray(m, dtype=np.float64), compute_uv=False)


def nuclear_norm(m) -> float:
    return float(singular_values(m).sum())


def frobenius_norm(m) -> float:
    return float(np.linalg.norm(np.asarray(m, dtype=np.float64)))


def effective_rank(m, eps: float = 1e-12) -> float:
    """Roy & Vetterli (2007): exp of the entropy of the normalised singular values.
    Equals k for a matrix with k equal non-zero singular values."""
    s = singular_values(m)
    s = s[s > eps * max(s.max(initial=0.0), eps)]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))
