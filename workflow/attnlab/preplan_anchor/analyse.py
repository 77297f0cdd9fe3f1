"""The preplan-and-anchor analysis of one model on held-out Countdown-lite traces (a step; any model,
ours or a local Hugging Face causal LM).

    python -m attnlab.preplan_anchor.analyse --input model M/config.json --input data D.parquet \
        --output heads H.parquet --output tokens T.parquet --output samples S.parquet --params JSON
    params: task_vocab, window, h_lo, h_hi, head_frac, q, k, n_shuffles, seed, batch_size, token_offset
"""

from __future__ import annotations

import time

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.heads import rhythm_suite
from attnlab.io import read_parquet, write_parquet
from attnlab.runs import analysis_inputs


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    model, _ = analysis_inputs(args, ("input_ids",))
    df: pd.DataFrame = read_parquet(args.input("data"), ["input_ids", "length", "target_mask", "labels"])
    out = rhythm_suite.analyze(model, df, task_vocab=p["task_vocab"], window=p["window"], h_lo=p["h_lo"],
                               h_hi=p["h_hi"], head_frac=p["head_frac"], q=p["q"], k=p["k"],
                               n_shuffles=p["n_shuffles"], seed=p["seed"], batch_size=p["batch_size"])
    out["heads"] = out["heads"].assign(analysis_wall_s=time.perf_counter() - t0)
    for name in ("heads", "tokens", "samples"):
        write_parquet(args.output(name), out[name])


if __name__ == "__main__":
    run_step(main, description=__doc__)
