"""Shortcuts in list recall: how far predictors that never read the query get (issue 13).

List recall (attnlab.tasks.recall.list_recall) is BOS [name item×list_len SEP]×n_lists, then
QUERY name, the queried list's items and EOS. The mechanism the claim is about is a content-based
look-up (find the queried name, copy what follows it). A model could instead lean on a cue that
needs no look-up; these predictors measure the cues, in exact match (all list_len items right;
EOS is not counted, since it always follows the last item and any position-counting model gets it):

  fixed_list   copy the items of the list at one fixed index (the best index): a position cue,
               right exactly when the query hits that list, ~1/n_lists
  majority     each answer item = the item most frequent in the context (ties: lowest id):
               a token-statistics cue
  chance       (1/n_items)^list_len, the guess that knows only the item vocabulary
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd


def list_items(ids: np.ndarray, n_lists: int, list_len: int) -> np.ndarray:
    """The items of every list in one list-recall sequence, shape (n_lists, list_len)."""
    per = list_len + 2
    body = np.asarray(ids[1 : 1 + n_lists * per]).reshape(n_lists, per)
    return body[:, 1 : 1 + list_len]


def answer(ids: np.ndarray, list_len: int) -> np.ndarray:
    """The queried list's items (the targets before EOS)."""
    return np.asarray(ids[-(list_len + 1) : -1])


def shortcut_baselines(df: pd.DataFrame, *, list_len: int, n_items: int | None = None) -> dict[str, float]:
    """Exact match of each query-blind predictor (module docstring) on a list-recall frame."""
    n_lists = int(df.n_lists.iloc[0])
    if (df.n_lists != n_lists).any():
        raise ValueError("shortcut_baselines: one sequence length (one n_lists) at a time")
    hits = np.zeros(n_lists)
    majority = 0
    for ids in df.input_ids:
        ids = np.asarray(ids)
        lists, ans = list_items(ids, n_lists, list_len), answer(ids, list_len)
        hits += (lists == ans).all(axis=1)
        counts = Counter(lists.ravel().tolist())
        top = max(counts.values())
        guess = min(k for k, c in counts.items() if c == top)
        majority += bool((ans == guess).all())
    out = {"fixed_list": float(hits.max() / len(df)), "majority": majority / len(df)}
    if n_items is not None:
        out["chance"] = float(n_items ** -list_len)
    return out
