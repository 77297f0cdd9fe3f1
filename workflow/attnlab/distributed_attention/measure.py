"""One process count P of the distributed_attention checks D1-D3, run under torchrun (this step's
launcher): every method x causal x L x seed (attnlab.distributed.check.run_checks), one row per
check, written by rank 0 as a Parquet file with the score-cap feasibility of each method.

Inputs are random tensors drawn from the seeds in the params; gloo on the CPU, NCCL where the
config asks for it (params `backend`)."""

from __future__ import annotations

import os

import pandas as pd

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet


def main(args: StepArgs) -> None:
    import torch.distributed as dist

    from attnlab.distributed import analytic
    from attnlab.distributed.check import run_checks

    p = args.params
    if "WORLD_SIZE" not in os.environ:
        raise AttnlabError("distributed_attention.measure runs under torchrun (WORLD_SIZE is not set): "
                           "the step's launcher starts it with `tasks` processes")
    backend = p.get("backend", "gloo")
    device = "cpu"
    if backend == "nccl":  # one GPU per rank, by its local rank on the node
        import torch

        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    try:
        world = dist.get_world_size()
        if world != p["processes"]:
            raise AttnlabError(f"started with {world} processes, the step asks for {p['processes']}")
        rows = run_checks(p["lengths"], p["seeds"], p["heads"], p["d_head"], device)
        if dist.get_rank() == 0:
            frame = pd.DataFrame(rows)
            for method in analytic.METHODS:
                frame.loc[frame["method"] == method, "max_L_P1"] = analytic.max_feasible_length(method, 1, p["heads"])
                frame.loc[frame["method"] == method, "max_L_P"] = analytic.max_feasible_length(method, world, p["heads"])
            write_parquet(args.output("checks"), frame)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run_step(main, description=__doc__)
