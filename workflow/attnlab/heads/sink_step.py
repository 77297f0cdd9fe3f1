"""Attention-sink analysis of one model on a text suite (a step; any model, ours or a local HF LM).

    python -m attnlab.heads.sink_step --input model M/config.json --input data text.parquet \
        --output heads H.parquet --output samples S.parquet --output secondary X.parquet \
        --output maps P.parquet --params JSON
    params: T (tokens per sequence), epsilon, tau, min_queries, batch_size, token_offset

The workflow stacks every variant and seed of a setting into one job (attnlab.experiment.stacked_step).

A data file with a `copy_mask` column (the trigger task) also gets each sequence's copy accuracy in
the samples output (sink_suite.analyze; the attention_sinks competence gate).
"""

from __future__ import annotations

import time

from attnlab.cli import StepArgs, run_step
from attnlab.heads import sink_suite
from attnlab.io import write_parquet
from attnlab.runs import analysis_inputs


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    model, df = analysis_inputs(args, ("input_ids", "length"))
    out = sink_suite.analyze(model, df, T=p["T"], eps=p["epsilon"], tau=p["tau"], min_queries=p["min_queries"],
                             batch_size=p.get("batch_size", 16))
    out["heads"] = out["heads"].assign(analysis_wall_s=time.perf_counter() - t0)
    for name in ("heads", "samples", "secondary", "maps"):
        write_parquet(args.output(name), out[name])


if __name__ == "__main__":
    run_step(main, description=__doc__)
