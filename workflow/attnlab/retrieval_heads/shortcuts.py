"""Shortcut baselines of the needle task with distractors (issue 13): predictors that read where
the needles are, or which tokens are needle values, but never match the queried key. On a task
that needs the key matched they score at chance, 1 / (1 + n_distractors); the key-matching oracle
scores 1. A sequence is BOS … [KEY k VAL v] … QUERY KEY k VAL v EOS (attnlab.tasks.recall.needle;
no VAL with value_marker false); training sequences may end in several such queries of distinct
needles (n_queries)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.tasks.recall import value_offset
from attnlab.tasks.vocab import KEY, QUERY


def queries(ids: np.ndarray, key_len: int, value_len: int, value_marker: bool = True) -> list[tuple[tuple, tuple]]:
    """(key, answer) of every query "QUERY KEY k VAL v [EOS]" in a sequence, in order (training
    sequences may end in several, attnlab.tasks.recall.needle's n_queries)."""
    ids, o = np.asarray(ids), 1 + value_offset(key_len, value_marker)
    return [(tuple(ids[q + 2 : q + 2 + key_len]), tuple(ids[q + o : q + o + value_len]))
            for q in (int(p) for p in np.flatnonzero(ids == QUERY))]


def needles(ids: np.ndarray, key_len: int, value_len: int,
            value_marker: bool = True) -> tuple[list[tuple], list[tuple], tuple, tuple]:
    """(keys, values) of the needles before the (first) query, in sequence order, and the first
    query's (key, answer)."""
    ids = np.asarray(ids)
    q = int(np.flatnonzero(ids == QUERY)[0])
    starts = [int(p) for p in np.flatnonzero(ids[:q] == KEY)]
    keys = [tuple(ids[p + 1 : p + 1 + key_len]) for p in starts]
    o = value_offset(key_len, value_marker)
    vals = [tuple(ids[p + o : p + o + value_len]) for p in starts]
    qk, ans = queries(ids, key_len, value_len, value_marker)[0]
    return keys, vals, qk, ans


def shortcut_baselines(df: pd.DataFrame, key_len: int, value_len: int, seed: int = 0,
                       value_marker: bool = True) -> dict[str, float]:
    """Exact match, over every query of every sequence, of: the first / last needle's value (position
    only), a random needle's value (token type only: it knows which tokens are needle values, not
    which needle), a random needle not asked before in the sequence (elimination; the same as random
    needle with one query per sequence), the value of the needle whose last key token matches the
    query's last key token (half the key), and the key-matching oracle (the whole key)."""
    rng = np.random.default_rng(seed)
    hits = {"first needle": [], "last needle": [], "random needle": [], "not asked before": [],
            "last key token": [], "key oracle": []}
    for ids in df.input_ids:
        keys, vals, _, _ = needles(ids, key_len, value_len, value_marker)
        asked: set[tuple] = set()
        for qk, ans in queries(ids, key_len, value_len, value_marker):
            hits["first needle"].append(vals[0] == ans)
            hits["last needle"].append(vals[-1] == ans)
            hits["random needle"].append(vals[int(rng.integers(len(vals)))] == ans)
            fresh = [v for k, v in zip(keys, vals) if k not in asked] or vals
            hits["not asked before"].append(fresh[int(rng.integers(len(fresh)))] == ans)
            half = [v for k, v in zip(keys, vals) if k[-1] == qk[-1]]
            hits["last key token"].append(half[int(rng.integers(len(half)))] == ans if half else False)
            full = [v for k, v in zip(keys, vals) if k == qk]
            hits["key oracle"].append(len(full) == 1 and full[0] == ans)
            asked.add(qk)
    return {k: float(np.mean(v)) for k, v in hits.items()}


def answer_elsewhere(df: pd.DataFrame, key_len: int, value_len: int, value_marker: bool = True) -> float:
    """Fraction of the (first) query's answer tokens that also occur outside the queried needle and
    the queries (in the haystack or other needles): 0 would mean the answer tokens are a type of
    their own. The queried needle is the one whose key the query names."""
    found, total = 0, 0
    for ids in df.input_ids:
        ids = np.asarray(ids)
        q = int(np.flatnonzero(ids == QUERY)[0])
        keys, _, qk, ans = needles(ids, key_len, value_len, value_marker)
        pos = [int(p) for p in np.flatnonzero(ids[:q] == KEY)][keys.index(qk)]
        rest = np.concatenate([ids[:pos], ids[pos + value_offset(key_len, value_marker) + value_len : q]])
        found += sum(int(t in rest) for t in ans)
        total += len(ans)
    return found / total
