"""The weight patterns of a trained layer (arXiv 2503.12734, Sec. 4): KQ diagonal and
homogeneous on the x-block, OV reading only the label entry, label weights summing to zero
across heads.

Column d of KQ_h multiplies the query's last entry, which is always 0, so it never gets a
gradient: every KQ metric looks at the x-block KQ_h[:d, :d] only.
"""

from __future__ import annotations

import numpy as np


def omega(kq_x: np.ndarray) -> float:
    """ω_h: the mean diagonal of the x-block."""
    return float(np.mean(np.diag(kq_x)))


def offdiag_ratio(kq_x: np.ndarray) -> float:
    """‖offdiag(KQ)‖_F / ‖KQ‖_F on the x-block: 0 for a diagonal matrix."""
    kq_x = np.asarray(kq_x, dtype=np.float64)
    off = kq_x - np.diag(np.diag(kq_x))
    total = np.linalg.norm(kq_x)
    return float(np.linalg.norm(off) / total) if total > 0 else float("nan")


def homogeneity(kq_x: np.ndarray) -> float:
    """std(diag) / |mean(diag)|: 0 when the diagonal is a multiple of the identity's."""
    diag = np.diag(np.asarray(kq_x, dtype=np.float64))
    return float(diag.std() / abs(diag.mean())) if diag.mean() != 0 else float("inf")


def last_entry_ratio(ov: np.ndarray) -> float:
    """|μ_h| / ‖OV_h‖ with μ_h = OV_h[d], the weight on the label y_l: 1 when OV reads y only."""
    ov = np.asarray(ov, dtype=np.float64)
    norm = np.linalg.norm(ov)
    return float(abs(ov[-1]) / norm) if norm > 0 else float("nan")


def zero_sum(mu) -> float:
    """|Σ_h μ_h| / Σ_h |μ_h|: 0 when the heads' label weights cancel, 1 when they share a sign."""
    mu = np.asarray(mu, dtype=np.float64)
    total = np.abs(mu).sum()
    return float(abs(mu.sum()) / total) if total > 0 else float("nan")


def head_patterns(kq: np.ndarray, ov: np.ndarray) -> list[dict]:
    """Per-head metrics from KQ (H, d+1, d+1) and OV (H, d+1)."""
    d = kq.shape[-1] - 1
    return [{
        "head": h,
        "omega": omega(kq[h, :d, :d]),
        "mu": float(ov[h, d]),
        "offdiag_ratio": offdiag_ratio(kq[h, :d, :d]),
        "homogeneity": homogeneity(kq[h, :d, :d]),
        "last_entry_ratio": last_entry_ratio(ov[h]),
    } for h in range(kq.shape[0])]
