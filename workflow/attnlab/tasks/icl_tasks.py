"""In-context mapping tasks that need task inference, with clean and noisy demonstrations
(shared/papers/soft_injection.md).

`n_families` × `per_family` tasks, each a function from `n_inputs` input symbols to `n_outputs`
output symbols, fixed by `mapping_seed` (shared by a run's train and test files). Each family has a
base function and a block of `n_inputs // 4` inputs on which its tasks differ from one another (every
task its own output at each such input, all distinct): two tasks of one family agree on exactly 75%
of their entries; tasks of different families share only what independent random functions share.

    BOS x1 f(x1) … xn f(xn) x_q f(x_q) EOS

n demonstrations (uniform in `min_demos`..`max_demos`), then the query; `noise` is the share of
demonstration outputs replaced by a random output symbol (never the query's answer). Ids: inputs
FIRST.., outputs FIRST + n_inputs... Targets: every token after BOS (dense supervision).
Columns: task_id, family, n_demos, answer_pos (predicted from answer_pos − 1), answer.
"""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, EOS, FIRST


def icl_vocab_size(n_inputs: int = 32, n_outputs: int = 32, **_) -> int:
    return FIRST + n_inputs + n_outputs


def mappings(n_families: int = 4, per_family: int = 4, n_inputs: int = 32, n_outputs: int = 32,
             mapping_seed: int = 0) -> np.ndarray:
    """(task, input) -> output index; tasks ordered family by family."""
    if per_family > n_outputs or n_inputs < 4:
        raise ValueError("icl_tasks: need per_family <= n_outputs and n_inputs >= 4")
    rng = np.random.default_rng(mapping_seed)
    out = []
    for _ in range(n_families):
        base = rng.integers(0, n_outputs, n_inputs)
        block = rng.choice(n_inputs, n_inputs // 4, replace=False)
        own = np.stack([rng.choice(n_outputs, per_family, replace=False) for _ in block], 1)  # (task, block)
        for t in range(per_family):
            f = base.copy()
            f[block] = own[t]
            out.append(f)
    return np.stack(out)


def icl_tasks(n: int, seed: int, n_families: int = 4, per_family: int = 4, n_inputs: int = 32, n_outputs: int = 32,
              min_demos: int = 0, max_demos: int = 10, noise: float = 0.0, tasks: list[int] | None = None,
              mapping_seed: int = 0):
    """`n` prompts, each of a task drawn uniformly from `tasks` (default: all)."""
    if not 0 <= min_demos <= max_demos or not 0 <= noise <= 1:
        raise ValueError("icl_tasks: need 0 <= min_demos <= max_demos and 0 <= noise <= 1")
    F = mappings(n_families, per_family, n_inputs, n_outputs, mapping_seed)
    pool = list(range(len(F))) if tasks is None else list(tasks)
    rng = np.random.default_rng(seed)
    X, Y = FIRST, FIRST + n_inputs
    seqs, meta = [], {"task_id": [], "family": [], "n_demos": [], "answer_pos": [], "answer": []}
    for _ in range(n):
        t = int(pool[rng.integers(len(pool))])
        k = int(rng.integers(min_demos, max_demos + 1))
        xs = rng.integers(0, n_inputs, k + 1)
        ys = F[t][xs].copy()
        flip = rng.random(k) < noise
        for i in np.flatnonzero(flip):
            choices = np.setdiff1d(np.arange(n_outputs), [ys[i], ys[-1]])
            ys[i] = rng.choice(choices)
        s = [BOS]
        for x, y in zip(xs, ys):
            s += [X + int(x), Y + int(y)]
        s.append(EOS)
        seqs.append(np.array(s))
        for key, v in (("task_id", t), ("family", t // per_family), ("n_demos", k), ("answer_pos", 2 * k + 2),
                       ("answer", Y + int(ys[-1]))):
            meta[key].append(v)
    masks = []
    for s in seqs:
        m = np.ones(len(s), bool)
        m[0] = False
        masks.append(m)
    return frame("icl_tasks", seqs, masks, **meta)


TASKS = [Task("icl_tasks", icl_tasks, icl_vocab_size)]
