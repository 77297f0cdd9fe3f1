"""Write a synthetic data set as Parquet: one or more parts, each a task with its parameters.

    python -m attnlab.tasks.synth --output data D.parquet \
        --params '{"seed": 7, "parts": [{"task": "mqar", "n": 512, "seq_len": 128, "n_pairs": 8}]}'

Part i draws from seed derive_seed(seed, i), so adding a part never changes the others.
"""

from __future__ import annotations

import pandas as pd

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS


def synthesize(parts: list[dict], seed: int) -> pd.DataFrame:
    frames = []
    for i, part in enumerate(parts):
        part = dict(part)
        name = part.pop("task")
        if name not in TASKS:
            raise AttnlabError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
        n = part.pop("n")
        try:
            df = TASKS[name].generate(n, derive_seed(seed, "part", i), **part)
        except (TypeError, ValueError) as e:
            raise AttnlabError(f"task {name}: {e}") from None
        frames.append(df.assign(part=i))
    return pd.concat(frames, ignore_index=True)


def main(args: StepArgs) -> None:
    p = args.params
    write_parquet(args.output("data"), synthesize(p["parts"], p["seed"]))


if __name__ == "__main__":
    run_step(main, description=__doc__)
