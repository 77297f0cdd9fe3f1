"""The toy data of alt_attention's GAAM and LightNet blocks (plain arrays; the RCMHA block uses the
markov_mixture task of attnlab.tasks).

nonstationary: which of `groups` feature groups carries a burst. Each sample has T time steps x F
features, x_tf = μ_f + s_f (ε_tf + 3·[f in group c and t in the burst window]), ε ~ N(0, 1), the
window 8 steps at a random place. Non-stationary split: per sample and feature μ_f ~ N(0, 2²) and
s_f ~ LogUniform(0.5, 2); stationary: μ = 0, s = 1.

grid: an H x W grid of `symbols` symbols (uniform, independent), in raster order; the target of
every cell is the symbol of the cell below it, and NONE (= symbols) on the bottom row.
"""

from __future__ import annotations

import numpy as np


def nonstationary(n: int, seed: int, stationary: bool, T: int = 64, F: int = 16, groups: int = 4,
                  window: int = 8, burst: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    if F % groups:
        raise ValueError(f"nonstationary: {F} features do not split into {groups} groups")
    rng = np.random.default_rng(seed)
    y = rng.integers(groups, size=n)
    eps = rng.standard_normal((n, T, F))
    start = rng.integers(T - window + 1, size=n)
    t = np.arange(T)
    in_window = (t[None, :] >= start[:, None]) & (t[None, :] < start[:, None] + window)  # (n, T)
    in_group = (np.arange(F)[None, :] // (F // groups)) == y[:, None]  # (n, F)
    eps += burst * (in_window[:, :, None] & in_group[:, None, :])
    if stationary:
        mu, s = np.zeros((n, 1, F)), np.ones((n, 1, F))
    else:
        mu = rng.normal(0.0, 2.0, size=(n, 1, F))
        s = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=(n, 1, F)))
    return (mu + s * eps).astype(np.float32), y.astype(np.int64)


def grid(n: int, seed: int, height: int = 8, width: int = 8, symbols: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(cells (n, H·W) int, targets (n, H·W) int with NONE = symbols on the bottom row)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(symbols, size=(n, height, width))
    target = np.full_like(g, symbols)
    target[:, :-1] = g[:, 1:]
    return g.reshape(n, -1).astype(np.int64), target.reshape(n, -1).astype(np.int64)
