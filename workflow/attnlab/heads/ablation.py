"""Which heads to mask in the retrieval-head ablation (Wu et al., arXiv 2404.15574, Sec. 4):
the top-K retrieval heads against K random heads drawn from the non-retrieval heads.
A head is masked by zeroing its output before the output projection (see heads.adapters)."""

from __future__ import annotations

import numpy as np

from attnlab.heads.retrieval import RETRIEVAL_THRESHOLD

Head = tuple[int, int]


def top_heads(scores: np.ndarray, k: int) -> list[Head]:
    """The K heads with the highest score (ties broken by (layer, head) order), best first."""
    s = np.asarray(scores, dtype=float)
    order = sorted(np.ndindex(s.shape), key=lambda lh: (-s[lh], lh))
    return [(int(l), int(h)) for l, h in order[:k]]


def random_non_retrieval_heads(scores: np.ndarray, k: int, n_draws: int, seed: int,
                               threshold: float = RETRIEVAL_THRESHOLD) -> list[list[Head]]:
    """`n_draws` sets of K heads, each drawn without replacement from the heads scoring
    ≤ threshold. Raises if fewer than K such heads exist."""
    s = np.asarray(scores, dtype=float)
    pool = [(int(l), int(h)) for l, h in np.ndindex(s.shape) if s[l, h] <= threshold]
    if len(pool) < k:
        raise ValueError(f"only {len(pool)} non-retrieval heads, cannot draw {k}")
    rng = np.random.default_rng(seed)
    return [sorted(pool[i] for i in rng.choice(len(pool), k, replace=False)) for _ in range(n_draws)]


def by_layer(heads: list[Head]) -> dict[int, list[int]]:
    """{layer: [head, ...]}: the form the ablation hooks take."""
    out: dict[int, list[int]] = {}
    for l, h in heads:
        out.setdefault(int(l), []).append(int(h))
    return {l: sorted(hs) for l, hs in sorted(out.items())}


def accuracy_drop(base: float, ablated: float) -> float:
    """Drop in accuracy, in points (percentage points when accuracies are fractions × 100)."""
    return float(base) - float(ablated)
