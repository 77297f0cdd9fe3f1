"""The superlinear experiment's needle task, with dense supervision: several needles in one
haystack, several of them queried at the end, every answer token supervised.

    BOS  haystack with n_needles needles "KEY k VAL v₁ v₂"  then  n_queries × "QUERY KEY k v₁ v₂"

- keys are distinct within a sequence (one needle per key), values drawn at random;
- the haystack is drawn from the key and value tokens themselves (`shared_vocab`, no filler
  vocabulary), so neither a token type nor a marker finds the answer: the queried key must be
  matched to its needle (the needles' KEY/VAL markers tell where needles are, not which one is
  asked);
- the queried needles are distinct and asked in a random order (a position or an order does not
  tell which needle is asked; an answer is never repeated in the query block, so no later query
  copies an earlier one from within a short window);
- the query names its key and the answer follows it (`query_val` false: v₁ is predicted at the
  query's k, as an induction head would; true: "QUERY KEY k VAL v₁ v₂", the spec's needle format,
  v₁ predicted at the query's VAL);
- targets: both value tokens of every query (2 · n_queries per sequence, against one query in
  attnlab.tasks' `needle`).

Metadata per sequence (one entry per query, in query order): `needle_pos` (the queried needle's KEY
position), `depth` (its start position as a fraction of the needle positions the haystack allows,
0 = first, 1 = last, as the `needle` task's depth), `answer_pos` (the query's position whose next
token is v₁: its k, or its VAL with `query_val`), `value_pos` (the needle's v₁ position).
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import frame
from attnlab.tasks.vocab import BOS, FIRST, KEY, QUERY, VAL


def vocab_size(n_keys: int = 32, n_values: int = 32, n_filler: int = 64, shared_vocab: bool = True, **_) -> int:
    return FIRST + n_keys + n_values + (0 if shared_vocab else n_filler)


def query_length(key_len: int = 1, value_len: int = 2, query_val: bool = False) -> int:
    """Tokens of one query: QUERY KEY k [VAL] v..."""
    return 2 + key_len + int(query_val) + value_len


def context_length(length: int, n_queries: int, key_len: int = 1, value_len: int = 2, query_val: bool = False) -> int:
    """Tokens between BOS and the query block."""
    return length - 1 - n_queries * query_length(key_len, value_len, query_val)


def generate(n: int, seed: int, length: int = 128, n_needles: int = 8, n_queries: int = 6, n_keys: int = 32,
             n_values: int = 32, key_len: int = 1, value_len: int = 2, n_filler: int = 64, shared_vocab: bool = True,
             query_val: bool = False):
    if key_len != 1:
        raise ValueError("superlinear task: key_len must be 1 (keys are single distinct tokens)")
    if not 1 <= n_queries <= n_needles <= n_keys:
        raise ValueError(f"superlinear task: need 1 <= n_queries ({n_queries}) <= n_needles ({n_needles}) "
                         f"<= n_keys ({n_keys})")
    per = 2 + key_len + value_len  # KEY k VAL v...
    C = context_length(length, n_queries, key_len, value_len, query_val)
    ql = query_length(key_len, value_len, query_val)
    hay = C - n_needles * per
    if hay < 0:
        raise ValueError(f"superlinear task: length {length} holds no {n_needles} needles and {n_queries} queries")
    rng = np.random.default_rng(seed)
    k0, v0 = FIRST, FIRST + n_keys
    seqs, masks = [], []
    meta = {"needle_pos": [], "depth": [], "answer_pos": [], "value_pos": []}
    for _ in range(n):
        keys = k0 + rng.choice(n_keys, n_needles, replace=False)
        vals = v0 + rng.integers(0, n_values, (n_needles, value_len))
        if shared_vocab:
            filler = k0 + rng.integers(0, n_keys + n_values, hay)
        else:  # a filler vocabulary of its own (the spec's setting; a token-type cue for the needles)
            filler = v0 + n_values + rng.integers(0, n_filler, hay)
        offsets = np.sort(rng.integers(0, hay + 1, n_needles))
        parts, prev, starts = [[BOS]], 0, []
        for i, off in enumerate(offsets):
            parts.append(filler[prev:off])
            starts.append(sum(len(p) for p in parts))
            parts.append(np.concatenate([[KEY, keys[i], VAL], vals[i]]))
            prev = off
        parts.append(filler[prev:])
        asked = rng.choice(n_needles, n_queries, replace=False)
        q0 = 1 + C
        mask = np.zeros(length, dtype=bool)
        ans, npos, vpos = [], [], []
        for j, i in enumerate(asked):
            parts.append(np.concatenate([[QUERY, KEY, keys[i]], [VAL] if query_val else [], vals[i]]))
            at = q0 + j * ql + ql - value_len - 1  # the query's last token before its value
            mask[at + 1: at + 1 + value_len] = True
            ans.append(at), npos.append(starts[i]), vpos.append(starts[i] + 3)
        s = np.concatenate(parts)
        assert len(s) == length
        seqs.append(s), masks.append(mask)
        span = max(C - per, 1)  # needle start positions run from 1 to C - per + 1
        meta["needle_pos"].append(np.asarray(npos, np.int32))
        meta["depth"].append((np.asarray(npos, np.float64) - 1) / span)
        meta["answer_pos"].append(np.asarray(ans, np.int32))
        meta["value_pos"].append(np.asarray(vpos, np.int32))
    return frame("superlinear_needles", seqs, masks, seq_len=[length] * n, **meta)
