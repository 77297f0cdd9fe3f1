"""Model-free answers to the mapping tasks (attnlab.tasks.icl_tasks): what a predictor gets without
the mechanism under test, from the query token alone or from a cue in the prompt (the shortcut
check), and what perfect task inference from the demonstrations gets (the Bayes ceiling).

A prompt is (xs, ys, x_q): demonstration inputs and outputs and the query, as symbol indices
(0..n_inputs−1, 0..n_outputs−1); F is (tasks, n_inputs) -> output index (icl_tasks.mappings).

  context_free  the output most tasks give x_q (what the query token alone tells; no task inference)
  copy          the output paired with x_q in the demonstrations when it appears (the last such
                pair), else context_free: an induction-style lookup with no task inference
  majority      the most common demonstration output (a token-frequency cue), else context_free
  bayes         argmax_y Σ_t P(t | demos) [F[t, x_q] = y] under the generator's noise model (a
                demonstration output is right with probability 1 − noise, else uniform over the
                other n_outputs − 1), uniform prior over tasks: the best any task inference can do
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.vocab import FIRST


def prompts(input_ids, n_inputs: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(xs, ys, x_q) symbol indices of icl_tasks prompts `BOS x1 y1 … xn yn x_q y_q EOS`."""
    out = []
    for s in input_ids:
        s = np.asarray(s)
        body = s[1:-3]
        out.append((body[0::2] - FIRST, body[1::2] - FIRST - n_inputs, int(s[-3]) - FIRST))
    return out


def _vote(F: np.ndarray, x: int, weights: np.ndarray | None = None) -> int:
    w = np.ones(len(F)) if weights is None else weights
    return int(np.argmax(np.bincount(F[:, x], weights=w, minlength=F.max() + 1)))


def predict(F: np.ndarray, xs: np.ndarray, ys: np.ndarray, x_q: int, kind: str, noise: float = 0.0) -> int:
    if kind == "context_free":
        return _vote(F, x_q)
    if kind == "copy":
        hit = np.flatnonzero(xs == x_q)
        return int(ys[hit[-1]]) if len(hit) else _vote(F, x_q)
    if kind == "majority":
        return int(np.argmax(np.bincount(ys))) if len(ys) else _vote(F, x_q)
    if kind == "bayes":
        n_out = int(F.max()) + 1
        right = (F[:, xs] == ys[None]).sum(1)  # per task: demonstrations it explains
        wrong = len(xs) - right
        p_wrong = noise / max(n_out - 1, 1)
        with np.errstate(divide="ignore"):
            logl = right * np.log(1 - noise) + wrong * np.log(p_wrong) if noise > 0 else np.where(wrong > 0, -np.inf, 0.0)
        if not np.isfinite(logl.max()):  # noise-free model and no task explains every demonstration
            return _vote(F, x_q)
        post = np.exp(logl - logl.max())
        return _vote(F, x_q, post / post.sum())
    raise ValueError(f"unknown baseline {kind!r}")


KINDS = ("context_free", "copy", "majority", "bayes")


def accuracy(F: np.ndarray, input_ids, answers, n_inputs: int, kind: str, noise: float = 0.0) -> float:
    """Share of prompts whose answer (model ids) the baseline `kind` gets right."""
    ok = [predict(F, xs, ys, xq, kind, noise) == int(a) - FIRST - n_inputs
          for (xs, ys, xq), a in zip(prompts(input_ids, n_inputs), answers)]
    return float(np.mean(ok)) if ok else float("nan")
