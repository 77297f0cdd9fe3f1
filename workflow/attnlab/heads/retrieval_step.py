"""Retrieval-head analysis of one model on a needle suite (a step; any model, ours or a local HF LM).

    python -m attnlab.heads.retrieval_step --input model M/config.json --input data needles.parquet \
        --output heads H.parquet --output ablation A.parquet --output maps P.parquet \
        --output samples S.parquet --params JSON
    params: key_len, value_len, ks (ablation sizes K), n_draws, seed, batch_size, token_offset,
            split_seed (optional: choose heads on one half of the needles, ablate on the other),
            value_marker (optional, default true: a VAL token between key and value)
"""

from __future__ import annotations

import time

from attnlab.cli import StepArgs, run_step
from attnlab.heads import needle_suite
from attnlab.io import write_parquet
from attnlab.runs import analysis_inputs


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    model, df = analysis_inputs(args, ("input_ids", "target_mask", "length", "needle_pos", "depth"))
    out = needle_suite.analyze(model, df, key_len=p["key_len"], value_len=p["value_len"], ks=p["ks"],
                               n_draws=p["n_draws"], seed=p["seed"], batch_size=p.get("batch_size", 32),
                               split_seed=p.get("split_seed"), value_marker=p.get("value_marker", True))
    out["heads"] = out["heads"].assign(analysis_wall_s=time.perf_counter() - t0)
    for name in ("heads", "ablation", "maps", "samples"):
        write_parquet(args.output(name), out[name])


if __name__ == "__main__":
    run_step(main, description=__doc__)
