"""Write the superlinear needle task (attnlab.superlinear.task) as Parquet: one part per length.

    params: {"seed": int, "task": {task settings}, "parts": [{"n": int, "length": int}, ...]}

Part i draws from derive_seed(seed, "part", i), so adding a length never changes the others."""

from __future__ import annotations

import pandas as pd

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.seeds import derive_seed
from attnlab.superlinear.task import generate


def synthesize(parts: list[dict], task: dict, seed: int) -> pd.DataFrame:
    frames = []
    for i, part in enumerate(parts):
        try:
            df = generate(part["n"], derive_seed(seed, "part", i), length=part["length"], **task)
        except (TypeError, ValueError) as e:
            raise AttnlabError(f"experiments.superlinear.task: {e}") from None
        frames.append(df.assign(part=i))
    return pd.concat(frames, ignore_index=True)


def main(args: StepArgs) -> None:
    p = args.params
    write_parquet(args.output("data"), synthesize(p["parts"], p["task"], p["seed"]))


if __name__ == "__main__":
    run_step(main, description=__doc__)
