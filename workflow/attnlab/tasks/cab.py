"""CAB's four attention patterns, one synthetic stand-in task each (spec: shared/papers/cab.md).

Content tokens: 32 symbols (ids FIRST .. FIRST+31); position tokens for NC (FIRST+32 .. FIRST+63).

- NS  masked-token recovery on Markov-mixture text (encoder only): BOS x_1..x_32 from one of the
      mixture's chains, `n_masked` tokens replaced by QUERY; predict the originals there.
      `oracle_correct`: how many of them the Bayes predictor that knows the chain gets right
      (forward-backward marginals given every unmasked token, argmax).
- CS  next-token prediction on the same mixture (decoder only): attnlab.tasks.markov.markov_mixture;
      `oracle_correct`: targets the chain's most likely next state gets right.
- NC  time-stamped lookup (encoder–decoder, the decoder sees all its queries at once): source BOS
      s_1..s_32; the decoder's inputs are 16 distinct position tokens p_j, its targets s_{p_j}.
- CC  autoregressive reversal (encoder–decoder, causal decoder): source BOS s_1..s_16, target
      s_16..s_1 EOS, teacher-forced.
Frames for NS, NC, CC have `input_ids`, `target_ids`, `target_mask` (and NC `decoder_input_ids`),
as attnlab.seq2seq.data reads them; CS is the usual LM frame (input_ids, target_mask).
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.markov import markov_mixture, transition_matrices
from attnlab.tasks.vocab import BOS, EOS, FIRST, QUERY

N_SYMBOLS = 32
POSITION0 = FIRST + N_SYMBOLS  # NC position tokens
VOCAB_SIZE = FIRST + 2 * N_SYMBOLS


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


def masked_marginals(P: np.ndarray, x: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """(T, S) posterior of each state of a chain with transition P and a uniform first state, given
    the observed states x at the unmasked positions (forward-backward)."""
    T, S = len(x), P.shape[0]
    obs = np.ones((T, S))
    for t in np.flatnonzero(~masked):
        obs[t] = 0.0
        obs[t, x[t]] = 1.0
    alpha = np.empty((T, S))
    alpha[0] = obs[0] / S
    alpha[0] /= alpha[0].sum()
    for t in range(1, T):
        a = (alpha[t - 1] @ P) * obs[t]
        alpha[t] = a / a.sum()
    beta = np.ones((T, S))
    for t in range(T - 2, -1, -1):
        b = P @ (obs[t + 1] * beta[t + 1])
        beta[t] = b / b.sum()
    post = alpha * beta
    return post / post.sum(-1, keepdims=True)


def ns_masked(n: int, seed: int, seq_len: int = 33, n_masked: int = 5, n_states: int = N_SYMBOLS,
              n_chains: int = 4, concentration: float = 0.2, chain_seed: int = 0):
    """NS: the Markov-mixture text of `markov_mixture` with `n_masked` of the tokens after BOS
    replaced by QUERY (positions uniform without replacement)."""
    base = markov_mixture(n, seed, seq_len=seq_len, n_states=n_states, n_chains=n_chains,
                          concentration=concentration, chain_seed=chain_seed)
    P = transition_matrices(n_chains, n_states, concentration, chain_seed)
    rng = np.random.default_rng([seed, 1])
    rows = []
    for ids, chain in zip(base["input_ids"], base["chain"]):
        ids = np.asarray(ids, dtype=np.int64)
        pos = 1 + rng.choice(seq_len - 1, size=n_masked, replace=False)
        mask = np.zeros(seq_len, dtype=bool)
        mask[pos] = True
        src = ids.copy()
        src[mask] = QUERY
        post = masked_marginals(P[chain], ids[1:] - FIRST, mask[1:])
        oracle = int((post[mask[1:]].argmax(-1) == (ids[1:] - FIRST)[mask[1:]]).sum())
        rows.append({"input_ids": src, "target_ids": ids, "target_mask": mask, "chain": int(chain),
                     "n_targets": n_masked, "oracle_correct": oracle})
    return _frame(rows)


def cs_lm(n: int, seed: int, seq_len: int = 33, n_states: int = N_SYMBOLS, n_chains: int = 4,
          concentration: float = 0.2, chain_seed: int = 0):
    """CS: markov_mixture, with how many targets the chain's most likely next state gets right."""
    df = markov_mixture(n, seed, seq_len=seq_len, n_states=n_states, n_chains=n_chains,
                        concentration=concentration, chain_seed=chain_seed)
    P = transition_matrices(n_chains, n_states, concentration, chain_seed)
    best = P.argmax(-1)  # (chain, from)
    correct, targets = [], []
    for ids, m, c in zip(df["input_ids"], df["target_mask"], df["chain"]):
        x = np.asarray(ids, dtype=np.int64) - FIRST
        t = np.flatnonzero(np.asarray(m))
        correct.append(int((best[c, x[t - 1]] == x[t]).sum()))
        targets.append(len(t))
    return df.assign(n_targets=targets, oracle_correct=correct)


def nc_lookup(n: int, seed: int, source_len: int = 32, n_queries: int = 16):
    """NC: source BOS s_1..s_L (uniform symbols); decoder inputs: n_queries distinct position tokens
    POSITION0 + p (p in 1..L, meaning s_p); targets s_p."""
    if source_len > N_SYMBOLS or n_queries > source_len:
        raise ValueError(f"nc_lookup: source_len <= {N_SYMBOLS} position tokens and n_queries <= source_len")
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        s = FIRST + rng.integers(N_SYMBOLS, size=source_len)
        p = 1 + rng.choice(source_len, size=n_queries, replace=False)
        src = np.concatenate([[BOS], s])
        rows.append({"input_ids": src, "decoder_input_ids": POSITION0 + p - 1, "target_ids": src[p],
                     "target_mask": np.ones(n_queries, dtype=bool), "n_targets": n_queries})
    return _frame(rows)


def cc_reversal(n: int, seed: int, source_len: int = 16):
    """CC: source BOS s_1..s_L, target s_L..s_1 EOS (the decoder reads it shifted behind BOS)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        s = FIRST + rng.integers(N_SYMBOLS, size=source_len)
        tgt = np.concatenate([s[::-1], [EOS]])
        rows.append({"input_ids": np.concatenate([[BOS], s]), "target_ids": tgt,
                     "target_mask": np.ones(len(tgt), dtype=bool), "n_targets": len(tgt)})
    return _frame(rows)
