"""Countdown-lite arithmetic traces with per-token labels (shared/papers/preplan_anchor.md).

    BOS n1 n2 n3 n4 TGT t SEP  a op b = r ,  a op b = r ,  [a op b = r ,]  ANS r_final EOS

Four numbers (1..`max_number`) and a target whose shortest solution takes 2 or 3 operations
(+, −, ×; every intermediate result in 1..`max_result`). Countdown rules: each step takes two
numbers of the pool (the problem's numbers and earlier results), writes the larger first, and puts
its result back in the pool. The solver searches exhaustively; the trace is one of the shortest
solutions, drawn at random (no search-order cue). Since a solution is shortest, every intermediate
result is used again as an operand.

Ids: specials 0..7 (attnlab.tasks.vocab), numbers 0..`max_result` at FIRST + v, then PLUS, MINUS,
TIMES, EQ, COMMA, ANS, TGT. Targets (dense supervision): every token after SEP.
`labels` (int8 per token, from the generator): OTHER 0; STEP_START 1 (a step's first operand: the
model must look back into the problem or earlier results to write it); RESULT 2 (the token after
`=`, not used again: the final result); REUSED 3 (a result used later as an operand, the anchor
candidate). Columns: labels, n_steps, target_value.
"""

from __future__ import annotations

import functools

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, EOS, FIRST, SEP

OTHER, STEP_START, RESULT, REUSED = 0, 1, 2, 3
LABELS = {"other": OTHER, "step_start": STEP_START, "result": RESULT, "reused_result": REUSED}
OPS = ("+", "-", "*")


def ids(max_result: int = 99) -> dict[str, int]:
    base = FIRST + max_result + 1
    return {name: base + i for i, name in enumerate(("+", "-", "*", "=", ",", "ANS", "TGT"))}


def countdown_vocab_size(max_result: int = 99, **_) -> int:
    return FIRST + max_result + 1 + 7


def _apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


@functools.lru_cache(maxsize=None)
def solutions(numbers: tuple[int, ...], max_steps: int = 3, max_result: int = 99) -> dict[int, tuple]:
    """{value: (depth, ((a, op, b, r), ...) every shortest step sequence reaching it)} for every
    value reachable in 1..max_steps steps (numbers sorted; a ≥ b in each step; results 1..max_result)."""
    best: dict[int, list] = {}

    def search(pool: tuple[int, ...], steps: tuple) -> None:
        if len(steps) == max_steps or len(pool) < 2:
            return
        for i in range(len(pool)):
            for j in range(i + 1, len(pool)):
                a, b = max(pool[i], pool[j]), min(pool[i], pool[j])
                rest = pool[:i] + pool[i + 1:j] + pool[j + 1:]
                for op in OPS:
                    r = _apply(a, op, b)
                    if not 1 <= r <= max_result or (op == "-" and a == b):
                        continue
                    seq = steps + ((a, op, b, r),)
                    got = best.get(r)
                    if got is None or len(seq) < got[0]:
                        best[r] = [len(seq), [seq]]
                    elif len(seq) == got[0] and seq not in got[1]:
                        got[1].append(seq)
                    search(tuple(sorted(rest + (r,))), seq)

    search(tuple(sorted(numbers)), ())
    return {v: (d, tuple(seqs)) for v, (d, seqs) in best.items() if v not in numbers}


def encode(numbers, target: int, steps, max_result: int = 99) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, target_mask, labels) of one trace."""
    t = ids(max_result)
    num = lambda v: FIRST + int(v)  # noqa: E731
    toks = [BOS, *map(num, numbers), t["TGT"], num(target), SEP]
    labels = [OTHER] * len(toks)
    last = len(steps) - 1  # in a shortest solution every earlier result is an operand later
    for k, (a, op, b, r) in enumerate(steps):
        toks += [num(a), t[op], num(b), t["="], num(r), t[","]]
        labels += [STEP_START, OTHER, OTHER, OTHER, REUSED if k < last else RESULT, OTHER]
    toks += [t["ANS"], num(steps[-1][3]), EOS]
    labels += [OTHER, OTHER, OTHER]
    toks, labels = np.asarray(toks), np.asarray(labels, dtype=np.int8)
    mask = np.zeros(len(toks), dtype=bool)
    mask[8:] = True
    return toks, mask, labels


def countdown(n: int, seed: int, max_number: int = 12, max_result: int = 99, min_steps: int = 2, max_steps: int = 3):
    """`n` problems and solution traces (see the module docstring)."""
    if not (1 <= min_steps <= max_steps <= 3) or max_number < 2 or max_result < max_number:
        raise ValueError("countdown: need 1 <= min_steps <= max_steps <= 3, max_number >= 2, max_result >= max_number")
    rng = np.random.default_rng(seed)
    seqs, masks, labels, n_steps, targets = [], [], [], [], []
    while len(seqs) < n:
        numbers = tuple(int(x) for x in rng.integers(1, max_number + 1, 4))
        sols = solutions(tuple(sorted(numbers)), max_steps, max_result)
        choices = sorted(v for v, (d, _) in sols.items() if min_steps <= d <= max_steps)
        if not choices:
            continue
        target = int(choices[rng.integers(len(choices))])
        d, seqs_v = sols[target]
        steps = seqs_v[rng.integers(len(seqs_v))]
        s, m, lab = encode(numbers, target, steps, max_result)
        seqs.append(s), masks.append(m), labels.append(lab), n_steps.append(d), targets.append(target)
    return frame("countdown", seqs, masks, labels=labels, n_steps=n_steps, target_value=targets)


TASKS = [Task("countdown", countdown, countdown_vocab_size)]
