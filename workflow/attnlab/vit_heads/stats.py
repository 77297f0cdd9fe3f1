"""Small statistics the vit_heads analysis needs without scipy / scikit-learn: Spearman's rho,
k-means (k-means++ seeding, Lloyd iterations) and the silhouette score."""

from __future__ import annotations

import numpy as np


def rankdata(x) -> np.ndarray:
    """Average ranks (ties share the mean of their ranks), 1-based."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a, b) -> float:
    """Spearman's rank correlation; NaN when either side is constant."""
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(centres (k, d), labels (n,)) of Lloyd's k-means with k-means++ seeding."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else None
        centres.append(x[rng.choice(len(x), p=p)])
    c = np.asarray(centres)
    labels = np.zeros(len(x), dtype=int)
    for _ in range(iters):
        labels = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.asarray([x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c, labels


def assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, float)[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient (Euclidean); NaN with fewer than 2 clusters."""
    x = np.asarray(x, dtype=float)
    ks = np.unique(labels)
    if len(ks) < 2:
        return float("nan")
    d = np.sqrt(((x[:, None, :] - x[None]) ** 2).sum(-1))
    s = np.zeros(len(x))
    for i in range(len(x)):
        own = labels == labels[i]
        n_own = own.sum() - 1
        if n_own == 0:
            continue
        a = d[i, own].sum() / n_own
        b = min(d[i, labels == j].mean() for j in ks if j != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(s.mean())
