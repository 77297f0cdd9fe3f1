"""Attention-sink metrics.

Primary sinks — Gu et al., "When attention sink emerges in language models" (arXiv 2410.10781),
Sec. 3.1: importance score and sink rate of the k-th token (1-indexed in the paper; 0-indexed
positions here, so the first token is position 0):

    α_k^{l,h}  = 1/(T−k+1) · Σ_{i≥k} A^{l,h}_{i,k}          (mean attention the token receives)
    Sink_k^ε   = 1/(L·H) · Σ_{l,h} 1[α_k^{l,h} > ε]          (ε = 0.3 in the paper)

Both are computed per sequence and averaged over sequences. For unnormalised (sigmoid) attention
A is the raw attention weight, as in the paper's comparison.

Secondary sinks — Wong et al., "On the existence and behaviour of secondary attention sinks"
(arXiv 2512.22213): non-first tokens that receive sink-level attention in middle layers. Here a
position j ≥ 1 is a secondary sink in layer l if some head gives it α_j^{l,h} > τ, counting only
positions with at least `min_queries` queries after them (α of the last few tokens averages over a
handful of queries and would flag every self-attending head). For each sink we record the cosine of
its residual stream with the primary sink's (position 0, same layer), the layers it lasts, and the
earlier MLP whose output at that token best aligns with the primary-sink direction ("the MLP that
creates it") with that output's ℓ₂ norm.
"""

from __future__ import annotations

import numpy as np

EPSILON = 0.3  # Gu et al.'s ε
TAU = 0.1  # secondary-sink threshold of shared/papers/attention_sinks.md (swept there)


def importance_all(pattern: np.ndarray) -> np.ndarray:
    """(..., query, key) -> (..., key): α of every key position j, the mean of A[i, j] over i ≥ j
    (Gu et al., Sec. 3.1)."""
    A = np.asarray(pattern, dtype=float)
    T = A.shape[-1]
    lower = np.tril(np.ones((T, T), dtype=bool))  # i ≥ j
    return (A * lower).sum(-2) / (T - np.arange(T))


def importance(pattern: np.ndarray, k: int = 0) -> np.ndarray:
    """(..., query, key) -> (...): α_k, the importance of position k (0 = the first token)."""
    A = np.asarray(pattern, dtype=float)
    return A[..., k:, k].mean(-1)


def sink_rate(alpha: np.ndarray, eps: float = EPSILON) -> np.ndarray:
    """(..., layer, head) α -> (...): Sink^ε, the fraction of heads with α > ε."""
    return (np.asarray(alpha) > eps).mean((-2, -1))


def sink_rate_per_layer(alpha: np.ndarray, eps: float = EPSILON) -> np.ndarray:
    """(..., layer, head) α -> (..., layer): the fraction of each layer's heads with α > ε."""
    return (np.asarray(alpha) > eps).mean(-1)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1.0), 0.0)


def middle_layers(n_layers: int) -> list[int]:
    """Every layer but the first and the last (all layers when there are fewer than three)."""
    return list(range(1, n_layers - 1)) if n_layers >= 3 else list(range(n_layers))


def secondary_sinks(alpha: np.ndarray, resid: np.ndarray, mlp_out: np.ndarray, *, tau: float = TAU,
                    layers: list[int] | None = None, min_queries: int = 16) -> list[dict]:
    """Secondary sinks of one sequence.

    alpha:   (layer, head, key) importance of every position (`importance_all` of the pattern)
    resid:   (layer, pos, d) residual stream entering each layer (hook_resid_pre)
    mlp_out: (layer, pos, d) each layer's MLP output (hook_mlp_out)
    layers:  where to look (default: the middle layers)

    One dict per sink position: position, first_layer, layers (how many consecutive searched layers
    from first_layer it stays a sink), score (max over heads of α in first_layer), cos_primary
    (residual at first_layer vs the first token's), creator_layer (the MLP before first_layer whose
    output at the token has the largest cosine with the first token's residual at first_layer),
    mlp_cos, mlp_norm (ℓ₂ norm of that output), control_cos (the same selection at the non-sink
    positions: for each eligible non-sink token, its own largest cosine over the MLPs before
    first_layer, averaged over the tokens; what a best-of-`first_layer` alignment looks like without a
    sink, so the sink's maximum is not compared with a mean).
    """
    alpha, resid, mlp_out = np.asarray(alpha, float), np.asarray(resid, float), np.asarray(mlp_out, float)
    L, _, T = alpha.shape
    layers = middle_layers(L) if layers is None else sorted(layers)
    score = alpha.max(1)  # (layer, key)
    eligible = np.zeros(T, dtype=bool)
    eligible[1 : max(1, T - min_queries + 1)] = True  # at least min_queries queries i ≥ j
    is_sink = (score > tau) & eligible  # (layer, key)
    out = []
    for j in np.nonzero(is_sink[layers].any(0))[0]:
        first = next(l for l in layers if is_sink[l, j])
        span = 0
        for l in layers[layers.index(first):]:
            if not is_sink[l, j]:
                break
            span += 1
        row = {"position": int(j), "first_layer": int(first), "layers": span, "score": float(score[first, j]),
               "cos_primary": float(cosine(resid[first, j], resid[first, 0]))}
        if first > 0:
            primary = resid[first, 0]
            cos = cosine(mlp_out[:first, j], primary[None])  # (first,)
            creator = int(cos.argmax())
            controls = eligible & ~is_sink[first]
            controls[j] = False
            # (first, n_controls): every earlier MLP at every control token; best layer per token
            control = cosine(mlp_out[:first][:, controls], primary[None, None]).max(0) if controls.any() else None
            row.update(creator_layer=creator, mlp_cos=float(cos[creator]),
                       mlp_norm=float(np.linalg.norm(mlp_out[creator, j])),
                       control_cos=float(control.mean()) if control is not None else float("nan"))
        else:
            row.update(creator_layer=-1, mlp_cos=float("nan"), mlp_norm=float("nan"), control_cos=float("nan"))
        out.append(row)
    return out


def rank_correlation(x, y) -> float:
    """Spearman's ρ (Pearson correlation of average ranks); NaN with fewer than 3 pairs or no spread."""
    import pandas as pd

    x, y = pd.Series(list(x), dtype=float), pd.Series(list(y), dtype=float)
    keep = x.notna() & y.notna()
    if keep.sum() < 3:
        return float("nan")
    rx, ry = x[keep].rank().to_numpy(), y[keep].rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])
