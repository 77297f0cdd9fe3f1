"""The retrieval score of Wu et al., "Retrieval head mechanistically explains long-context
factuality" (arXiv 2404.15574, Sec. 2), exactly as shared/papers/retrieval_heads.md defines it:

    at each generated token w, head (l, h) earns 1/|needle| if its top-1 attended position j lies
    inside the needle span and x_j = w; a sample's score is the sum over its generated tokens;
    the retrieval score is the mean over samples. Retrieval heads: score > 0.1.

Here the needle span is the needle's value (the tokens the answer copies), so |needle| is the
answer length and a head that copies every answer token scores 1.
"""

from __future__ import annotations

import numpy as np

RETRIEVAL_THRESHOLD = 0.1  # the paper's cut: a retrieval head scores > 0.1


def step_hits(last_row: np.ndarray, context: np.ndarray, span: tuple[int, int], generated: int) -> np.ndarray:
    """(layer, head) bool: the head's top-1 attended key lies in `span` = [start, end) and the
    token there equals `generated`. `last_row`: (layer, head, key) attention of the query that
    produced `generated`; `context`: (key,) token ids it attended over."""
    last_row = np.asarray(last_row)
    top = last_row.argmax(-1)  # (layer, head); ties -> first position, as torch.topk would
    start, end = span
    inside = (top >= start) & (top < end)
    copied = np.asarray(context)[top] == generated
    return inside & copied


def sample_score(step_rows: list[np.ndarray], contexts: list[np.ndarray], span: tuple[int, int],
                 generated: list[int]) -> np.ndarray:
    """(layer, head) retrieval score of one sample: Σ over generated tokens of hits / |needle|."""
    n = span[1] - span[0]
    if n <= 0:
        raise ValueError(f"empty needle span {span}")
    total = None
    for row, ctx, w in zip(step_rows, contexts, generated, strict=True):
        hit = step_hits(row, ctx, span, w).astype(float)
        total = hit if total is None else total + hit
    return total / n


def retrieval_scores(per_sample: np.ndarray) -> np.ndarray:
    """(layer, head) mean over samples of (sample, layer, head) scores."""
    return np.asarray(per_sample, dtype=float).mean(0)


def retrieval_heads(scores: np.ndarray, threshold: float = RETRIEVAL_THRESHOLD) -> list[tuple[int, int]]:
    """(layer, head) pairs scoring above `threshold`, best first."""
    scores = np.asarray(scores)
    heads = [(int(l), int(h)) for l, h in zip(*np.nonzero(scores > threshold))]
    return sorted(heads, key=lambda lh: (-scores[lh], lh))


def summary(scores: np.ndarray, threshold: float = RETRIEVAL_THRESHOLD) -> dict:
    """The paper's sparsity numbers: fraction of heads > threshold and fraction scoring exactly 0."""
    s = np.asarray(scores, dtype=float)
    return {"n_heads": int(s.size), "frac_retrieval": float((s > threshold).mean()),
            "frac_zero": float((s == 0).mean()), "max_score": float(s.max()) if s.size else float("nan")}
