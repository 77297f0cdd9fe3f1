"""Multi-document tasks: retrieval QA over K documents (PINE's substitute, shared/papers/pine.md) and
two-hop QA over fact documents (multihop_mask's substitute, shared/papers/multihop_mask.md).

Every document starts with SEP (the "DOC" marker) and the question with QUERY, so a mechanism finds
them by id (attnlab.attention.pine, attnlab.attention.prefix_lm). Only the answer is a target.
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, EOS, FIRST, QUERY, SEP

DOC = SEP


# --- retrieval QA over K documents "DOC k1 k2 v", question "Q k1 k2" -> v -------------------------
# ids: keys FIRST..+n_keys, values the next n_values.
def retrieval_vocab_size(n_keys: int = 32, n_values: int = 32, **_) -> int:
    return FIRST + n_keys + n_values


def grid_shape(n_docs: int) -> tuple[int, int]:
    """(rows, cols), rows <= cols, rows >= 2, rows·cols = n_docs, rows as large as possible."""
    rows = max((r for r in range(2, int(n_docs ** 0.5) + 1) if n_docs % r == 0), default=None)
    if rows is None:
        raise ValueError(f"retrieval_qa: n_docs = {n_docs} has no factorisation rows x cols with rows >= 2")
    return rows, n_docs // rows


def retrieval_qa(n: int, seed: int, n_docs: int = 8, n_keys: int = 32, n_values: int = 32,
                 per_position: bool = False, n_questions: int = 1):
    """BOS, n_docs documents "DOC k1 k2 v", then "Q k1 k2 v" (target: v), 4·n_docs + 5 tokens;
    with `n_questions` > 1, more questions follow about other documents (each answer a target:
    more training signal per sequence; gold_position is the first question's).

    The documents' key pairs form a full rows × cols grid (rows·cols = n_docs, orientation random):
    k1 takes `rows` values and k2 `cols` (or the other way round), every pair once, so every
    distractor shares one key (or none) with the gold document and matching needs both keys, and
    every document has the same pattern of shared keys (no document stands out without the
    question: a star around the gold document, each distractor sharing exactly one key with it,
    would mark the gold document by key counts alone). Values are distinct. The gold document's
    position is uniform (train) or, with `per_position`, every position gets n questions
    (n·n_docs rows, column gold_position)."""
    rows, cols = grid_shape(n_docs)
    if not 1 <= n_questions <= n_docs:
        raise ValueError(f"retrieval_qa: n_questions = {n_questions} must lie in 1..n_docs = {n_docs}")
    if 2 * cols > n_keys or n_docs > n_values:
        raise ValueError(f"retrieval_qa: n_keys = {n_keys} / n_values = {n_values} too small for {n_docs} documents")
    rng = np.random.default_rng(seed)
    k0, v0 = FIRST, FIRST + n_keys
    golds = np.repeat(np.arange(n_docs), n) if per_position else rng.integers(0, n_docs, n)
    seqs, masks = [], []
    for gold in golds:
        keys = k0 + rng.choice(n_keys, rows + cols, replace=False)
        a, b = keys[:rows], keys[rows:]
        if rng.random() < 0.5:
            a, b = b, a
        pairs = np.array([(x, y) for x in a for y in b])
        pairs = pairs[rng.permutation(n_docs)]
        vals = v0 + rng.choice(n_values, n_docs, replace=False)
        which = rng.integers(0, n_docs)  # the pair asked about, placed at the gold position
        order = np.delete(np.arange(n_docs), which)
        order = np.insert(order, gold, which)
        pairs, vals = pairs[order], vals[order]
        docs = np.column_stack([np.full(n_docs, DOC), pairs, vals]).ravel()
        asked = [gold, *rng.choice(np.delete(np.arange(n_docs), gold), n_questions - 1, replace=False)]
        questions = np.concatenate([[QUERY, pairs[a][0], pairs[a][1], vals[a]] for a in asked])
        s = np.concatenate([[BOS], docs, questions])
        m = np.zeros(len(s), dtype=bool)
        m[1 + 4 * n_docs + 3:: 4] = True
        seqs.append(s), masks.append(m)
    return frame("retrieval_qa", seqs, masks, n_docs=n_docs, gold_position=[int(g) for g in golds])


# --- two-hop QA over facts "DOC e_a r e_b", question "Q e_x r1 r2" -> e_z -------------------------
# ids: entities FIRST..+n_entities, relations the next n_relations.
ORDERS = ("forward", "backward", "forward_1", "forward_3", "random")


def twohop_vocab_size(n_entities: int = 48, n_relations: int = 4, **_) -> int:
    return FIRST + n_entities + n_relations


def place(order: str, rng: np.random.Generator) -> np.ndarray:
    """Slots of the 6 documents [gold1, gold2, d1, d2, d3, d4] for a document `order`:
    forward: gold1 gold2 first, in chain order; backward: gold2 gold1 first; forward_k: both gold
    documents at the end in chain order, k distractors apart; random: any order."""
    if order == "random":
        return rng.permutation(6)
    if order in ("forward", "backward"):
        seq = [0, 1] if order == "forward" else [1, 0]
        seq += list(2 + rng.permutation(4))
    elif order.startswith("forward_"):
        k = int(order.split("_")[1])
        if not 0 <= k <= 4:
            raise ValueError(f"twohop: order {order} needs 0 <= k <= 4")
        d = list(2 + rng.permutation(4))
        seq = d[: 4 - k] + [0] + d[4 - k:] + [1]
    else:
        raise ValueError(f"twohop: unknown order {order!r}; choose from {ORDERS}")
    slots = np.empty(6, dtype=np.int64)
    slots[np.array(seq)] = np.arange(6)
    return slots


def twohop(n: int, seed: int, n_entities: int = 48, n_relations: int = 4, order: str = "random",
           n_questions: int = 1):
    """BOS, 6 fact documents "DOC e_a r e_b", "Q e_x r1 r2", e_z, EOS (31 tokens; target: e_z).
    With `n_questions` = 2 or 3, the other chains are asked too, in random order after the first
    ("Q e_x r' r2" -> e_t, "Q e_p r1 r2" -> e_s; each answer a target): more training signal per
    sequence; `order` and the gold slots refer to the first question.

    Gold facts (e_x r1 e_y), (e_y r2 e_z). Distractors reuse r1 and r2 and form chains too, so
    neither the question's entity nor its relations alone find the answer: the bridge chain
    (e_x r' e_w), (e_w r2 e_t) starts at e_x with another relation (the first hop must be chosen by
    relation), the other chain (e_p r1 e_q), (e_q r2 e_s) has the question's relations from another
    entity. Eight distinct entities; r1, r2, r' distinct. Columns: order, gold slots."""
    if not 1 <= n_questions <= 3:
        raise ValueError(f"twohop: n_questions = {n_questions} must lie in 1..3 (one per chain)")
    if n_relations < 3 or n_entities < 8:
        raise ValueError(f"twohop: needs n_relations >= 3 and n_entities >= 8, got {n_relations}, {n_entities}")
    if order not in ORDERS:
        raise ValueError(f"twohop: unknown order {order!r}; choose from {ORDERS}")
    rng = np.random.default_rng(seed)
    e0, r0 = FIRST, FIRST + n_entities
    seqs, masks, g1s, g2s = [], [], [], []
    for _ in range(n):
        x, y, z, w, t, p, q, s_ = e0 + rng.choice(n_entities, 8, replace=False)
        r1, r2, rb = r0 + rng.choice(n_relations, 3, replace=False)
        facts = np.array([(x, r1, y), (y, r2, z), (x, rb, w), (w, r2, t), (p, r1, q), (q, r2, s_)])
        slots = place(order, rng)
        docs = np.empty((6, 3), dtype=np.int64)
        docs[slots] = facts
        body = np.column_stack([np.full(6, DOC), docs]).ravel()
        others = [[QUERY, x, rb, r2, t], [QUERY, p, r1, r2, s_]]
        asked = [[QUERY, x, r1, r2, z]] + [others[i] for i in rng.permutation(2)[: n_questions - 1]]
        seq = np.concatenate([[BOS], body, *asked, [EOS]])
        m = np.zeros(len(seq), dtype=bool)
        m[1 + 24 + 4:: 5] = True
        m[-1] = False
        seqs.append(seq), masks.append(m), g1s.append(int(slots[0])), g2s.append(int(slots[1]))
    return frame("twohop", seqs, masks, order=order, gold1_slot=g1s, gold2_slot=g2s)


TASKS = [
    Task("retrieval_qa", retrieval_qa, retrieval_vocab_size),
    Task("twohop", twohop, twohop_vocab_size),
]
