"""Generated text: a mixture of Markov chains, and the Bigram-Backcopy trigger task.

The chains are fixed by `chain_seed` (shared by a task's train and test files); each sequence's
randomness comes from `seed`.
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, FIRST


def transition_matrices(n_chains: int, n_states: int, concentration: float, chain_seed: int) -> np.ndarray:
    """(chain, from, to) row-stochastic matrices, rows drawn from Dirichlet(concentration)."""
    rng = np.random.default_rng(chain_seed)
    return rng.dirichlet(np.full(n_states, concentration), size=(n_chains, n_states))


def _walk(rng, P: np.ndarray, start: int, length: int) -> np.ndarray:
    cum = P.cumsum(-1)
    u = rng.random(length)
    x = np.empty(length, dtype=np.int64)
    x[0] = start
    for t in range(1, length):
        x[t] = min(np.searchsorted(cum[x[t - 1]], u[t], side="right"), P.shape[0] - 1)
    return x


def markov_vocab_size(n_states: int = 32, **_) -> int:
    return FIRST + n_states


def markov_mixture(n: int, seed: int, seq_len: int = 128, n_states: int = 32, n_chains: int = 4,
                   concentration: float = 0.2, chain_seed: int = 0):
    """BOS x1..x_{T−1} from one chain chosen uniformly per sequence; every token after the first is a
    target. `oracle_nll`: mean −log P_chain(x_t | x_{t−1}), the loss of a model that knows the chain
    (a floor; an in-context learner must also infer which chain it is in)."""
    P = transition_matrices(n_chains, n_states, concentration, chain_seed)
    rng = np.random.default_rng(seed)
    seqs, masks, chains, oracle = [], [], [], []
    for _ in range(n):
        c = int(rng.integers(n_chains))
        x = _walk(rng, P[c], int(rng.integers(n_states)), seq_len - 1)
        s = np.concatenate([[BOS], FIRST + x])
        m = np.zeros(seq_len, dtype=bool)
        m[2:] = True
        seqs.append(s), masks.append(m), chains.append(c)
        oracle.append(float(-np.log(P[c, x[:-1], x[1:]]).mean()))
    return frame("markov_mixture", seqs, masks, seq_len=seq_len, chain=chains, oracle_nll=oracle)


def trigger_vocab_size(n_states: int = 32, **_) -> int:
    return FIRST + n_states


def trigger(n: int, seed: int, seq_len: int = 128, n_states: int = 32, n_triggers: int = 3,
            p_trigger: float = 0.1, concentration: float = 0.2, chain_seed: int = 0):
    """Bigram-Backcopy (Guo et al. 2024, arXiv 2410.13835, Sec. 2): BOS, then a bigram chain over the
    non-trigger states; after a non-trigger token, with probability `p_trigger` a trigger token
    (states 0..n_triggers−1) follows, and the token after the trigger copies the token before it.
    The copying head must act only at triggers and stay dormant elsewhere, which it does by
    attending to BOS: the task that needs an attention sink.
    Targets: every token after the first; `copy_mask` marks the back-copied positions."""
    P = transition_matrices(1, n_states, concentration, chain_seed)[0]
    P[:, :n_triggers] = 0.0  # the bigram never emits a trigger; triggers are inserted below
    cum = (P / P.sum(-1, keepdims=True)).cumsum(-1)
    rng = np.random.default_rng(seed)
    L = seq_len - 1
    seqs, masks, copies = [], [], []
    for _ in range(n):
        x = [int(n_triggers + rng.integers(n_states - n_triggers))]
        copied = np.zeros(seq_len, dtype=bool)
        while len(x) < L:
            prev = x[-1]
            if prev >= n_triggers and len(x) + 2 <= L and rng.random() < p_trigger:
                x += [int(rng.integers(n_triggers)), prev]
                copied[len(x)] = True  # index in the sequence with BOS in front
            else:
                x.append(int(min(np.searchsorted(cum[prev], rng.random(), side="right"), n_states - 1)))
        s = np.concatenate([[BOS], FIRST + np.asarray(x)])
        m = np.zeros(seq_len, dtype=bool)
        m[2:] = True
        seqs.append(s), masks.append(m), copies.append(copied)
    return frame("trigger", seqs, masks, seq_len=seq_len, copy_mask=copies)


TASKS = [
    Task("markov_mixture", markov_mixture, markov_vocab_size),
    Task("trigger", trigger, trigger_vocab_size),
]
