"""Reference losses of the mixture-of-Markov-chains task, from the generating chains themselves.

The task (attnlab.tasks.markov.markov_mixture): each sequence is BOS x_0 .. x_{L-1}, one chain c
drawn uniformly per sequence, x_0 uniform, x_t ~ P_c(x_{t-1}, .); the targets are x_1 .. x_{L-1}.

    oracle    −log P_c(x_t | x_{t−1}) with the true chain c: the true conditional entropy of the
              generating chain, H(X_t | X_{t−1}, C), a floor no model reaches (it would have to know c);
    bayes     −log Σ_c w_c(x_{<t}) P_c(x_t | x_{t−1}), w the posterior over chains given the prefix:
              the best any predictor can do (it must infer the chain in context);
    bigram    −log P̄(x_t | x_{t−1}), P̄ the chains' transitions averaged over chains and positions
              (the data's bigram distribution): the best predictor that ignores which chain the
              sequence is in, i.e. uses no context beyond the previous token (a model without
              attention can learn it). The chain-agnostic baseline of the MoH competence gate;
    unigram   −log q(x_t), q the targets' marginal: a guess without any context.

`expected_losses` gives each as an exact expectation over the generating process; `sequence_losses`
gives each sequence's mean over its targets (the same estimator as the task's `oracle_nll`), so a
model's validation loss can be set against the losses of the same validation sequences.
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.vocab import FIRST

NAMES = ("unigram", "bigram", "bayes", "oracle")


def _xlogx_rows(P: np.ndarray) -> np.ndarray:
    return -(P * np.log(np.where(P > 0, P, 1.0))).sum(-1)


def pair_distribution(P: np.ndarray, walk_len: int) -> np.ndarray:
    """J(a, b): the probability that a target is b and its previous token a, averaged over the
    targets t = 1 .. walk_len−1 and the chains (uniform start, uniform chain)."""
    C, S, _ = P.shape
    n_targets = walk_len - 1
    mu = np.full((C, S), 1.0 / S)  # state marginal of x_{t-1}, per chain
    J = np.zeros((S, S))
    for _ in range(n_targets):
        J += np.einsum("ca,cab->ab", mu, P)
        mu = np.einsum("ca,cab->cb", mu, P)
    return J / (C * n_targets)


def chain_agnostic(P: np.ndarray, walk_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(P̄, q): the chain-agnostic bigram P̄(b | a) and the targets' marginal q(b)."""
    J = pair_distribution(P, walk_len)
    row = J.sum(1, keepdims=True)
    bigram = np.where(row > 0, J / np.where(row > 0, row, 1.0), 1.0 / J.shape[1])
    return bigram, J.sum(0)


def expected_losses(P: np.ndarray, seq_len: int) -> dict[str, float]:
    """Exact expected per-target losses (nats) of the unigram, bigram and oracle predictors for
    sequences of `seq_len` tokens (BOS + a walk of seq_len − 1 states)."""
    walk_len = seq_len - 1
    C, S, _ = P.shape
    J = pair_distribution(P, walk_len)
    bigram, q = chain_agnostic(P, walk_len)
    mu, oracle = np.full((C, S), 1.0 / S), 0.0
    for _ in range(walk_len - 1):
        oracle += float((mu * _xlogx_rows(P)).sum())
        mu = np.einsum("ca,cab->cb", mu, P)
    return {"unigram": float(_xlogx_rows(q)),
            "bigram": float(-(J * np.log(np.where(bigram > 0, bigram, 1.0))).sum()),
            "oracle": oracle / (C * (walk_len - 1))}


def sequence_losses(input_ids, chains, P: np.ndarray) -> dict[str, np.ndarray]:
    """Per sequence, the mean over its targets of each reference predictor's loss (NAMES).
    `input_ids`: sequences of task token ids (BOS then FIRST + state), all of one length;
    `chains`: each sequence's generating chain (the task's `chain` column)."""
    walk_len = len(input_ids[0]) - 1
    bigram, q = chain_agnostic(P, walk_len)
    logP = np.log(np.where(P > 0, P, 1e-300))
    out = {k: [] for k in NAMES}
    for ids, c in zip(input_ids, chains):
        x = np.asarray(ids[1:], dtype=np.int64) - FIRST
        a, b = x[:-1], x[1:]
        out["unigram"].append(-np.log(q[b]).mean())
        out["bigram"].append(-np.log(bigram[a, b]).mean())
        step = logP[:, a, b]  # (chain, target)
        # posterior over chains before each target: prior uniform, times the transitions seen so far
        before = np.concatenate([np.zeros((P.shape[0], 1)), np.cumsum(step, 1)[:, :-1]], 1)
        log_w = before - np.logaddexp.reduce(before, axis=0)
        out["bayes"].append(-np.logaddexp.reduce(log_w + step, axis=0).mean())
        out["oracle"].append(-step[int(c)].mean())
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}
