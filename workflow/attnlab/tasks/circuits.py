"""Token-level IOI, Colored Objects and multiple-choice templates sharing one vocabulary
(shared/papers/circuits.md), so one model trains on all of them (and on a control task, the
Markov-chain continuation `markov_mixture`, whose states also lie in this range).

Ids from FIRST: 16 names, 12 objects, 10 colours, 8 labels (A, B, C, D, then 4 more), then the
template tokens AND, GIVE, TO, Q, OPT.

  ioi    BOS n1 AND n2 SEP n_s GIVE TO n_io EOS        n_s ∈ {n1, n2} drawn at random, n_io the other
  cobj   BOS c1 o1 c2 o2 c3 o3 Q o_q c_q EOS            three distinct objects and colours; o_q one of them
  mcq    BOS c1 o1 c2 o2 c3 o3 Q o_q OPT L1 c_a L2 c_b L3 c_c L* EOS
         the options are the three colours in random order, L1..L3 are A, B, C in `p_standard` of the
         sequences and three random distinct labels otherwise; the answer L* labels the option equal to c_q

Every row has `answer_pos` (the answer's position: predicted from answer_pos − 1), `answer` (its id)
and `foils` (the competing ids of the logit difference: the repeated name; the other two colours;
the other two option labels), and `standard` (mcq: the labels are A, B, C).
Targets (`targets`): "all" = every token after BOS (dense supervision), except MCQ-lite's OPT: an MCQ-lite prompt starts
with a CO-lite prompt, so OPT as a target would contradict CO-lite's answer on the same prefix (measured:
with it, CO-lite stayed at 3% accuracy after 1,500 steps). The random tokens only teach the template;
the answer is the only determined target. "answer" = the answer token only (answer_pos), the rest of
the sequence is context.
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, EOS, FIRST, SEP

N_NAMES, N_OBJECTS, N_COLOURS, N_LABELS = 16, 12, 10, 8
NAMES = FIRST
OBJECTS = NAMES + N_NAMES
COLOURS = OBJECTS + N_OBJECTS
LABELS = COLOURS + N_COLOURS
AND, GIVE, TO, Q, OPT = range(LABELS + N_LABELS, LABELS + N_LABELS + 5)
VOCAB = OPT + 1


def circuits_vocab_size(**_) -> int:
    return VOCAB


def _rows(name, seqs, answer_pos, answers, foils, untargeted=(), targets="all", **meta):
    if targets not in ("all", "answer"):
        raise ValueError(f"targets must be 'all' or 'answer', got {targets!r}")
    masks = []
    for s, p in zip(seqs, answer_pos):
        if targets == "answer":
            m = np.zeros(len(s), dtype=bool)
            m[p] = True
        else:
            m = np.ones(len(s), dtype=bool)
            m[0] = False
            m[list(untargeted)] = False
        masks.append(m)
    return frame(name, seqs, masks, answer_pos=answer_pos, answer=answers, foils=foils, **meta)


def ioi(n: int, seed: int, targets: str = "all"):
    """IOI-lite (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seqs, pos, ans, foils = [], [], [], []
    for _ in range(n):
        n1, n2 = NAMES + rng.choice(N_NAMES, 2, replace=False)
        s_first = rng.random() < 0.5
        n_s, n_io = (n1, n2) if s_first else (n2, n1)
        seqs.append(np.array([BOS, n1, AND, n2, SEP, n_s, GIVE, TO, n_io, EOS]))
        pos.append(8), ans.append(int(n_io)), foils.append([int(n_s)])
    return _rows("ioi", seqs, pos, ans, foils, targets=targets)


def _scene(rng):
    objs = OBJECTS + rng.choice(N_OBJECTS, 3, replace=False)
    cols = COLOURS + rng.choice(N_COLOURS, 3, replace=False)
    q = int(rng.integers(3))
    return objs, cols, q


def colored_objects(n: int, seed: int, targets: str = "all"):
    """CO-lite (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seqs, pos, ans, foils = [], [], [], []
    for _ in range(n):
        objs, cols, q = _scene(rng)
        body = [BOS, *[x for pair in zip(cols, objs) for x in pair], Q, objs[q]]
        seqs.append(np.array([*body, cols[q], EOS]))
        pos.append(len(body)), ans.append(int(cols[q])), foils.append([int(c) for i, c in enumerate(cols) if i != q])
    return _rows("cobj", seqs, pos, ans, foils, targets=targets)


def mcq(n: int, seed: int, p_standard: float = 0.5, targets: str = "all"):
    """MCQ-lite (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seqs, pos, ans, foils, standard = [], [], [], [], []
    for _ in range(n):
        objs, cols, q = _scene(rng)
        order = rng.permutation(3)
        std = bool(rng.random() < p_standard)
        labels = LABELS + (np.arange(3) if std else rng.choice(N_LABELS, 3, replace=False))
        body = [BOS, *[x for pair in zip(cols, objs) for x in pair], Q, objs[q], OPT]
        for lab, o in zip(labels, order):
            body += [lab, cols[o]]
        right = int(np.flatnonzero(order == q)[0])
        seqs.append(np.array([*body, labels[right], EOS]))
        pos.append(len(body)), ans.append(int(labels[right])), standard.append(std)
        foils.append([int(lab) for i, lab in enumerate(labels) if i != right])
    # OPT (position 9) follows the CO-lite prompt, whose next token in CO-lite is the colour: as a
    # target it would contradict CO-lite on an identical prefix, so it is not one
    return _rows("mcq", seqs, pos, ans, foils, untargeted=(9,), targets=targets, standard=standard)


TASKS = [
    Task("ioi", ioi, circuits_vocab_size),
    Task("cobj", colored_objects, circuits_vocab_size),
    Task("mcq", mcq, circuits_vocab_size),
]
