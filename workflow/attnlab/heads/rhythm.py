"""Local and global heads, WAAD and FAI, and their peaks (arXiv 2510.13554; shared/papers/preplan_anchor.md).

Pure functions over attention maps (numpy; rows are queries t, columns keys s, causal):
  head_distance     d_{l,h} = mean over response queries t of Σ_s A[t, s]·(t − s)
  head_classes      H_loc = the bottom `frac` of heads by d, H_glob = the top `frac`
  waad              WAAD_t = Σ_s Ā_loc[t, s]·min(t − s, W)
  fai               FAI_s = mean over t ∈ [s + H_lo, s + H_hi] (t in the response) of Ā_glob[t, s]
  waad_delta        δ_t = |WAAD_t − WAAD_{t+1}|
  top_fraction      the top q of the eligible tokens by a score (T_loc from δ, T_glob from FAI)
  coupling          share of FAI peaks with a WAAD peak at the same position or ≤ k positions before
  enrichment        share of a label among selected tokens over its share among eligible tokens
Rows with no mass (unnormalised attention) count as zero attention; NaN marks an undefined value.
"""

from __future__ import annotations

import numpy as np


def _dist(T: int) -> np.ndarray:
    return np.arange(T)[:, None] - np.arange(T)[None, :]  # t − s


def head_distance(patterns: np.ndarray, query_mask: np.ndarray | None = None) -> np.ndarray:
    """(..., heads, T, T) attention and a (T,) or (..., T) mask of response queries -> (..., heads):
    mean over masked queries of Σ_s A[t, s]·(t − s)."""
    A = np.asarray(patterns, dtype=float)
    T = A.shape[-1]
    D = (A * _dist(T)).sum(-1)  # (..., heads, T)
    m = np.ones(T, bool) if query_mask is None else np.asarray(query_mask, bool)
    m = np.broadcast_to(m[..., None, :] if m.ndim > 1 else m, D.shape)
    return (D * m).sum(-1) / np.maximum(m.sum(-1), 1)


def head_classes(distances: np.ndarray, frac: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (layers, heads) masks of the local (bottom `frac` by distance) and global (top `frac`)
    heads; round(frac × n_heads) each, at least one; ties broken by (layer, head) order."""
    d = np.asarray(distances, dtype=float)
    k = max(1, int(round(frac * d.size)))
    if 2 * k > d.size:
        raise ValueError(f"head_classes: {k} local + {k} global heads exceed the {d.size} heads (frac = {frac})")
    order = np.argsort(d.ravel(), kind="stable")
    loc, glob = np.zeros(d.size, bool), np.zeros(d.size, bool)
    loc[order[:k]] = True
    glob[order[::-1][:k]] = True  # largest first; a stable reverse keeps ties deterministic
    return loc.reshape(d.shape), glob.reshape(d.shape)


def waad(A_loc: np.ndarray, window: int) -> np.ndarray:
    """(T, T) mean local-head attention -> (T,): WAAD_t = Σ_s A[t, s]·min(t − s, W)."""
    A = np.asarray(A_loc, dtype=float)
    return (A * np.clip(_dist(A.shape[-1]), 0, window)).sum(-1)


def waad_delta(w: np.ndarray) -> np.ndarray:
    """δ_t = |WAAD_t − WAAD_{t+1}|; NaN at the last position (no successor)."""
    w = np.asarray(w, dtype=float)
    out = np.full_like(w, np.nan)
    out[:-1] = np.abs(w[:-1] - w[1:])
    return out


def fai(A_glob: np.ndarray, h_lo: int, h_hi: int, query_mask: np.ndarray | None = None) -> np.ndarray:
    """(T, T) mean global-head attention -> (T,): FAI_s = mean over t ∈ [s + h_lo, s + h_hi] with
    query_mask[t] (default: every t < T) of A[t, s]; NaN where no such t exists."""
    A = np.asarray(A_glob, dtype=float)
    T = A.shape[-1]
    m = np.ones(T, bool) if query_mask is None else np.asarray(query_mask, bool)
    d = _dist(T)
    window = (d >= h_lo) & (d <= h_hi) & m[:, None]  # [t, s]
    n = window.sum(0)
    total = (A * window).sum(0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def top_fraction(score: np.ndarray, q: float, eligible: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the top ceil(q × #eligible) eligible tokens by score (NaN scores are never
    eligible); ties broken towards the earlier position."""
    s = np.asarray(score, dtype=float)
    ok = ~np.isnan(s) if eligible is None else (np.asarray(eligible, bool) & ~np.isnan(s))
    idx = np.flatnonzero(ok)
    k = int(np.ceil(q * len(idx) - 1e-9))
    out = np.zeros(len(s), bool)
    if k:
        order = idx[np.argsort(-s[idx], kind="stable")]
        out[order[:k]] = True
    return out


def coupling(fai_peaks: np.ndarray, waad_peaks: np.ndarray, k: int = 3) -> float:
    """Share of FAI peaks s with a WAAD peak at some position in [s − k, s]; NaN without FAI peaks."""
    f, w = np.flatnonzero(fai_peaks), np.asarray(waad_peaks, bool)
    if len(f) == 0:
        return float("nan")
    return float(np.mean([w[max(0, s - k): s + 1].any() for s in f]))


def shuffled_coupling(fai_peaks: np.ndarray, waad_peaks: np.ndarray, eligible: np.ndarray, k: int,
                      n_shuffles: int, rng: np.random.Generator) -> float:
    """`coupling` with the WAAD peaks moved to random eligible positions (same count), averaged over
    `n_shuffles` draws: the chance level of the coupling."""
    pos = np.flatnonzero(eligible)
    n = int(np.asarray(waad_peaks, bool).sum())
    vals = []
    for _ in range(n_shuffles):
        w = np.zeros(len(eligible), bool)
        w[rng.choice(pos, n, replace=False)] = True
        vals.append(coupling(fai_peaks, w, k))
    return float(np.nanmean(vals)) if vals else float("nan")


def enrichment(selected: np.ndarray, label: np.ndarray, eligible: np.ndarray) -> float:
    """(share of `label` among selected eligible tokens) / (its share among all eligible tokens);
    NaN when nothing is selected or the label never occurs."""
    sel, lab, ok = (np.asarray(x, bool) for x in (selected, label, eligible))
    base = lab[ok].mean() if ok.any() else np.nan
    picked = lab[sel & ok]
    if not len(picked) or not base:
        return float("nan")
    return float(picked.mean() / base)
