"""Circuit discovery metrics (shared/papers/circuits.md; Merullo et al. arXiv 2310.08744, Lieberum et al.
arXiv 2307.09458), pure functions over arrays:

  logit_diff        LD = logit(answer) − max over foils of logit(foil)
  importance        I(l,h) = (LD_clean − LD_ablated) / LD_clean
  circuit           the heads with I ≥ threshold
  overlap, jaccard  |A ∩ B| / min(|A|, |B|) and |A ∩ B| / |A ∪ B|
  top_share         share of the total positive attribution carried by the top k heads
  pca_fit, project  rank-r PCA of vectors and the projection onto it (low-rank q/k test)
"""

from __future__ import annotations

import numpy as np
import torch

Head = tuple[int, int]


def logit_diff(logits: torch.Tensor, answer: torch.Tensor, foils: torch.Tensor) -> torch.Tensor:
    """(batch, vocab) logits, (batch,) answer ids, (batch, k) foil ids -> (batch,) LD."""
    right = logits.gather(-1, answer[:, None])[:, 0]
    return right - logits.gather(-1, foils).max(-1).values


def importance(ld_clean: float, ld_ablated: np.ndarray) -> np.ndarray:
    """(LD_clean − LD_ablated) / LD_clean per head; NaN when LD_clean ≤ 0 (no behaviour to explain)."""
    ld_ablated = np.asarray(ld_ablated, dtype=float)
    if not ld_clean > 0:
        return np.full(ld_ablated.shape, np.nan)
    return (ld_clean - ld_ablated) / ld_clean


def circuit(scores: np.ndarray, threshold: float) -> set[Head]:
    s = np.asarray(scores, dtype=float)
    return {(int(l), int(h)) for l, h in zip(*np.nonzero(np.nan_to_num(s, nan=-np.inf) >= threshold))}


def overlap(a: set, b: set) -> float:
    """|A ∩ B| / min(|A|, |B|); NaN when either is empty."""
    return len(a & b) / min(len(a), len(b)) if a and b else float("nan")


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else float("nan")


def top_share(attribution: np.ndarray, k: int) -> float:
    """Share of the total positive attribution that the k heads with the largest attribution carry
    (their positive parts); NaN when no head is positive."""
    x = np.asarray(attribution, dtype=float).ravel()
    pos = np.clip(x, 0, None)
    total = pos.sum()
    if total <= 0:
        return float("nan")
    return float(np.sort(pos)[::-1][:k].sum() / total)


def pca_fit(X: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, d) vectors -> (mean (d,), components (r, d), orthonormal rows: the top r principal axes)."""
    mu = X.mean(0)
    _, _, Vh = torch.linalg.svd(X - mu, full_matrices=False)
    return mu, Vh[:r]


def project(X: torch.Tensor, mu: torch.Tensor, comps: torch.Tensor) -> torch.Tensor:
    """X (..., d) replaced by its rank-r reconstruction mu + ((X − mu) Vᵀ) V."""
    return mu + ((X - mu) @ comps.T) @ comps
