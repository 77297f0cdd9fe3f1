"""The synthetic task suite: deterministic by seed, one row per sequence, written as Parquet.

    from attnlab.tasks import TASKS
    df = TASKS["mqar"].generate(n=1000, seed=0, seq_len=128, n_pairs=8)
    V = TASKS["mqar"].vocab_size(n_pairs=8)
"""

from attnlab.tasks import algorithmic, circuits, countdown, icl_tasks, markov, multidoc, recall
from attnlab.tasks.base import Task

TASKS: dict[str, Task] = {
    t.name: t for mod in (recall, algorithmic, markov, multidoc, countdown, circuits, icl_tasks) for t in mod.TASKS
}

__all__ = ["TASKS", "Task"]
