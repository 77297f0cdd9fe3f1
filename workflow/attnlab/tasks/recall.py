"""Retrieval tasks: multi-query associative recall (MQAR), needle in a haystack, list recall."""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, EOS, FIRST, KEY, QUERY, SEP, VAL


# --- MQAR (Arora et al. 2023, Zoology, arXiv 2312.04927) ----------------------------------------
# ids: keys FIRST..+n_keys, values next n_values, noise next n_noise.
def mqar_vocab_size(n_keys: int = 64, n_values: int = 64, n_noise: int = 16, **_) -> int:
    return FIRST + n_keys + n_values + n_noise


def mqar(n: int, seed: int, seq_len: int = 128, n_pairs: int = 8, n_keys: int = 64, n_values: int = 64,
         n_noise: int = 16, n_queries: int | None = None):
    """BOS k1 v1 .. kK vK, then noise with `n_queries` queries "k v" at random slots (default: every
    key once, or as many as fit); targets: the values of the queries. Keys are distinct within a
    sequence. More queries than pairs (denser supervision) query every key once and the rest at
    random keys (with repeats), in random order."""
    free = seq_len - 1 - 2 * n_pairs
    n_queries = min(n_pairs, max(free, 0) // 2) if n_queries is None else n_queries
    if n_pairs > n_keys or n_queries <= 0 or free < 2 * n_queries:
        raise ValueError(f"mqar: seq_len {seq_len} too short or n_pairs {n_pairs} too large")
    rng = np.random.default_rng(seed)
    k0, v0, z0 = FIRST, FIRST + n_keys, FIRST + n_keys + n_values
    seqs, masks = [], []
    for _ in range(n):
        keys = k0 + rng.choice(n_keys, n_pairs, replace=False)
        vals = v0 + rng.integers(0, n_values, n_pairs)
        s = np.empty(seq_len, dtype=np.int64)
        m = np.zeros(seq_len, dtype=bool)
        s[0] = BOS
        s[1 : 1 + 2 * n_pairs : 2], s[2 : 2 + 2 * n_pairs : 2] = keys, vals
        tail = z0 + rng.integers(0, n_noise, free)
        slots = np.sort(rng.choice(free // 2, n_queries, replace=False)) * 2  # non-overlapping pairs
        if n_queries <= n_pairs:
            which = rng.choice(n_pairs, n_queries, replace=False)
        else:
            which = rng.permutation(np.concatenate([np.arange(n_pairs), rng.integers(0, n_pairs, n_queries - n_pairs)]))
        tail[slots], tail[slots + 1] = keys[which], vals[which]
        s[1 + 2 * n_pairs :] = tail
        m[1 + 2 * n_pairs + slots + 1] = True
        seqs.append(s), masks.append(m)
    return frame("mqar", seqs, masks, seq_len=seq_len, n_pairs=n_pairs)


# --- needle in a haystack with KEY/VAL needles ----------------------------------------------------
# ids: keys FIRST..+n_keys, values next n_values, haystack next n_filler.
def value_offset(key_len: int, value_marker: bool = True) -> int:
    """Tokens from a needle's KEY to its value's first token: KEY k₁..k_a [VAL]."""
    return 1 + key_len + int(value_marker)


def needle_vocab_size(n_keys: int = 32, n_values: int = 32, n_filler: int = 64, **_) -> int:
    return FIRST + n_keys + n_values + n_filler


def needle(n: int, seed: int, lengths=(128,), depths=(0.0, 0.25, 0.5, 0.75, 1.0), n_keys: int = 32,
           n_values: int = 32, n_filler: int = 64, key_len: int = 1, value_len: int = 1,
           shared_vocab: bool = False, n_distractors: int = 0, n_queries: int = 1, value_marker: bool = True,
           repeat_span: int = 0):
    """BOS haystack with "KEY k VAL v" at `depth` (fraction of the haystack before it), ending in
    "QUERY KEY k VAL v EOS"; targets: v and EOS. `n` sequences per (length, depth).
    k and v are `key_len` and `value_len` tokens (k₁k₂, v₁v₂v₃ in the retrieval-heads spec); the
    value of the needle starts at needle_pos + 2 + key_len (value_offset). With `shared_vocab` the haystack is drawn
    from the key and value tokens themselves (as natural-text needles share words with their
    haystack), so the needle's tokens also occur outside it and only context finds the answer.

    `n_distractors` > 0 adds that many distractor needles "KEY k' VAL v'" at uniformly random
    places of the haystack, each with a key k' ≠ k (and ≠ one another) and a value v' ≠ v: the
    queried key must then be matched to find the answer; no marker token or position tells which
    needle is queried (the queried needle's rank among the needles is uniform when its depth is).
    Columns `needle_rank` (needles before the queried one) and `distractor_pos` (their KEY
    positions) describe them. With `n_distractors` = 0 the sequences are the same as before.

    `n_queries` > 1 (denser supervision for training, issue 13; needs n_distractors >= n_queries - 1)
    ends the sequence in that many queries "QUERY KEY k VAL v EOS" of distinct needles: the one at
    `depth` and n_queries - 1 distractors drawn at random, in random order. Every queried value and
    every EOS are targets; each query block is a one-query sequence's ending, so what follows a value
    is the same in training and test. The sequence keeps its length (the haystack shrinks). With
    n_queries = 1 the sequences are the same as before.

    `value_marker` = False drops the VAL token from every needle and query ("KEY k v", "QUERY KEY k v
    EOS"): the answer is then read right after the key, as in text where the question repeats the
    needle up to its answer, instead of at a VAL token that every needle shares (issue 13). The value
    of the needle then starts at needle_pos + 1 + key_len (value_offset).

    `repeat_span` = L > 0 (an auxiliary copy objective for training, issue 13) copies one random span of
    min(L, haystack // 2) haystack tokens to a later, non-overlapping place of the same haystack; every
    token of the copy after its first is a target where it and the token before it are adjacent in
    both copies (no needle inserted between them): the span repeats, so each is predicted by an
    induction step (find the previous occurrence of the context, copy what followed), the circuit a
    retrieval head is built from. With repeat_span = 0 the sequences are the same as before."""
    rng = np.random.default_rng(seed)
    mark = np.array([VAL] if value_marker else [], dtype=np.int64)
    k0, v0, f0 = FIRST, FIRST + n_keys, FIRST + n_keys + n_values
    seqs, masks, meta = [], [], {"seq_len": [], "depth": [], "needle_pos": []}
    extra = {"needle_rank": [], "distractor_pos": []}
    per = value_offset(key_len, value_marker) + value_len  # tokens of one needle
    if n_distractors and (n_keys ** key_len <= n_distractors or n_values ** value_len <= n_distractors):
        raise ValueError(f"needle: {n_distractors} distractors need more distinct keys and values")
    if not 1 <= n_queries <= n_distractors + 1:
        raise ValueError(f"needle: n_queries {n_queries} must be 1 .. n_distractors + 1 = {n_distractors + 1}")
    tail = n_queries * (2 + per)  # the queries "QUERY KEY k VAL v EOS"
    for length in lengths:
        hay = length - 1 - per - tail - n_distractors * per
        if hay < 0 or key_len < 1 or value_len < 1:
            raise ValueError(f"needle: length {length} too short (or key_len/value_len < 1)")
        for depth in depths:
            for _ in range(n):
                k, v = k0 + rng.integers(0, n_keys, key_len), v0 + rng.integers(0, n_values, value_len)
                if shared_vocab:
                    filler = k0 + rng.integers(0, n_keys + n_values, hay)
                else:
                    filler = f0 + rng.integers(0, n_filler, hay)
                span = min(repeat_span, hay // 2)
                if span >= 2:  # the copy filler[b : b + span] of filler[a : a + span]
                    a = int(rng.integers(0, hay - 2 * span + 1))
                    b = int(rng.integers(a + span, hay - span + 1))
                    filler[b : b + span] = filler[a : a + span]
                at = int(round(depth * hay))
                if not n_distractors:
                    s = np.concatenate([[BOS], filler[:at], [KEY], k, mark, v, filler[at:], [QUERY, KEY], k, mark, v, [EOS]])
                    pos, rank, others = 1 + at, 0, []
                else:
                    keys, vals = {tuple(k)}, {tuple(v)}
                    needles = []  # (filler offset, tie-break, is the queried one, tokens)
                    while len(needles) < n_distractors:
                        dk, dv = k0 + rng.integers(0, n_keys, key_len), v0 + rng.integers(0, n_values, value_len)
                        if tuple(dk) in keys or tuple(dv) in vals:
                            continue
                        keys.add(tuple(dk)), vals.add(tuple(dv))
                        needles.append((int(rng.integers(0, hay + 1)), float(rng.random()), False,
                                        np.concatenate([[KEY], dk, mark, dv])))
                    needles.append((at, float(rng.random()), True, np.concatenate([[KEY], k, mark, v])))
                    needles.sort(key=lambda x: (x[0], x[1]))
                    parts, prev, others, dpairs = [[BOS]], 0, [], []
                    for off, _, queried, toks in needles:
                        parts.append(filler[prev:off])
                        start = sum(len(p) for p in parts)
                        if queried:
                            pos, rank = start, len(others)
                        else:
                            others.append(start)
                            dpairs.append((toks[1 : 1 + key_len], toks[per - value_len :]))
                        parts.append(toks)
                        prev = off
                    parts.append(filler[prev:])
                    if n_queries == 1:
                        parts += [[QUERY, KEY], k, mark, v, [EOS]]
                    else:
                        asked = [(k, v)] + [dpairs[i] for i in rng.choice(n_distractors, n_queries - 1, replace=False)]
                        for i in rng.permutation(n_queries):
                            parts += [[QUERY, KEY], asked[i][0], mark, asked[i][1], [EOS]]
                    s = np.concatenate(parts)
                m = np.zeros(len(s), dtype=bool)
                for q in np.flatnonzero(s == QUERY):
                    m[q + 1 + per - value_len : q + 2 + per] = True  # the value and its EOS
                if span >= 2:
                    # filler index i sits at 1 + i + per x (needles inserted at filler offsets <= i)
                    offsets = np.sort([o for o, *_ in needles] if n_distractors else [at])
                    where = 1 + np.arange(hay) + per * np.searchsorted(offsets, np.arange(hay), side="right")
                    whole = (np.diff(where[b : b + span]) == 1) & (np.diff(where[a : a + span]) == 1)
                    m[where[b + 1 : b + span][whole]] = True
                seqs.append(s), masks.append(m)
                meta["seq_len"].append(length), meta["depth"].append(float(depth)), meta["needle_pos"].append(pos)
                extra["needle_rank"].append(rank), extra["distractor_pos"].append(np.asarray(others, dtype=np.int32))
    return frame("needle", seqs, masks, **meta, **(extra if n_distractors else {}))


# --- list recall (meta-tokens paper, arXiv 2509.16278, Sec. 5) -----------------------------------
# ids: list names FIRST..+n_names, items next n_items.
def list_recall_vocab_size(n_names: int = 64, n_items: int = 32, **_) -> int:
    return FIRST + n_names + n_items


def list_recall(n: int, seed: int, seq_len: int = 128, list_len: int = 6, n_names: int = 64, n_items: int = 32,
                n_queries: int = 1):
    """BOS [name item×list_len SEP]×L, then "QUERY name" and that list's items and EOS (targets).
    As many lists as fit in `seq_len`; the queried list is uniform among them.

    `n_queries` > 1 (denser supervision for training, issue 13) queries that many distinct lists,
    drawn uniformly, one "QUERY name items EOS" after another; every queried item and every EOS are
    targets (each query block is a one-query sequence's ending, so what follows the items is the same
    in training and test). The lists are those of a one-query sequence of `seq_len` (same count), so
    the sequence is (n_queries - 1) × (list_len + 3) tokens longer than `seq_len`. Columns query_list
    and distance describe the first query. With n_queries = 1 the sequences are the same as before."""
    per, tail = list_len + 2, list_len + 3
    n_lists = (seq_len - 1 - tail) // per
    if n_lists < 1 or n_lists > n_names:
        raise ValueError(f"list_recall: {n_lists} lists fit in seq_len {seq_len} (need 1..n_names={n_names})")
    if not 1 <= n_queries <= n_lists:
        raise ValueError(f"list_recall: n_queries {n_queries} must be 1 .. n_lists = {n_lists}")
    rng = np.random.default_rng(seed)
    seqs, masks, meta = [], [], {"seq_len": [], "n_lists": [], "query_list": [], "distance": []}
    for _ in range(n):
        names = FIRST + rng.choice(n_names, n_lists, replace=False)
        items = FIRST + n_names + rng.integers(0, n_items, (n_lists, list_len))
        q = int(rng.integers(n_lists))
        body = np.concatenate([np.concatenate([[nm], it, [SEP]]) for nm, it in zip(names, items)])
        if n_queries == 1:
            s = np.concatenate([[BOS], body, [QUERY, names[q]], items[q], [EOS]])
        else:
            rest = [int(i) for i in rng.permutation([i for i in range(n_lists) if i != q])[: n_queries - 1]]
            s = np.concatenate([[BOS], body, *[np.concatenate([[QUERY, names[i]], items[i], [EOS]]) for i in [q, *rest]]])
        m = np.zeros(len(s), dtype=bool)
        for at in np.flatnonzero(s == QUERY):
            m[at + 2 : at + 3 + list_len] = True  # the items and their EOS
        seqs.append(s), masks.append(m)
        meta["seq_len"].append(seq_len), meta["n_lists"].append(n_lists), meta["query_list"].append(q)
        meta["distance"].append(1 + n_lists * per + 2 - (1 + q * per))
    return frame("list_recall", seqs, masks, **meta)


TASKS = [
    Task("mqar", mqar, mqar_vocab_size),
    Task("needle", needle, needle_vocab_size),
    Task("list_recall", list_recall, list_recall_vocab_size),
]
