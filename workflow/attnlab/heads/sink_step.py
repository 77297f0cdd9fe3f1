"""Attention-sink analysis of one model on a text suite (a step; any model, ours or a local HF LM).

    python -m attnlab.heads.sink_step --input model M/config.json --input data text.parquet \
        --output heads H.parquet --output samples S.parquet --output secondary X.parquet \
        --output maps P.parquet --params JSON
    params: T (tokens per sequence), epsilon, tau, min_queries, batch_size, token_offset
"""

from __future__ import annotations

import time
from pathlib import Path

from attnlab.cli import StepArgs, run_step
from attnlab.heads import sink_suite
from attnlab.heads.adapters import load_head_model
from attnlab.io import read_parquet, write_parquet


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    model = load_head_model(Path(args.input("model")).parent, token_offset=p.get("token_offset", 0))
    df = read_parquet(args.input("data"))
    model.check_vocab(int(max(max(x) for x in df.input_ids)) + 1)
    out = sink_suite.analyze(model, df, T=p["T"], eps=p["epsilon"], tau=p["tau"], min_queries=p["min_queries"],
                             batch_size=p.get("batch_size", 16))
    out["heads"] = out["heads"].assign(analysis_wall_s=time.perf_counter() - t0)
    for name in ("heads", "samples", "secondary", "maps"):
        write_parquet(args.output(name), out[name])


if __name__ == "__main__":
    run_step(main, description=__doc__)
