"""Which distributed_attention jobs a config asks for: one multi-process job per process count P
(launched by torchrun, or srun + torchrun under the SLURM profile), then evaluate and table."""

from __future__ import annotations

from attnlab.distributed_attention import PAPER
from attnlab.experiment import (
    Contains,
    Context,
    Experiment,
    Step,
    claims_path,
    evaluate_step,
    keyname,
    require,
    table_step,
)
from attnlab.seeds import derive_seed

EXP = "distributed_attention"
RESULTS = f"results/{EXP}"
CHECKS = RESULTS + "/checks/P{P}.parquet"
METRICS = {"metrics": f"{RESULTS}/metrics/checks.parquet"}


def input_seeds(cfg: dict, base_seed: int) -> list[int]:
    """The random inputs' seeds, one per config seed (the same inputs for every P)."""
    return [derive_seed(base_seed, EXP, "inputs", i) for i in range(cfg["seeds"])]


def check_params(cfg: dict, base_seed: int, P: int) -> dict:
    return {"processes": P, "seeds": input_seeds(cfg, base_seed), "lengths": cfg["lengths"], "heads": cfg["heads"],
            "d_head": cfg["d_head"], "backend": cfg["backend"]}


def check(ctx: Context) -> None:
    cfg = ctx.cfg
    for P in cfg["processes"]:
        require(cfg["heads"] % P == 0, f"{keyname(EXP, 'heads')} = {cfg['heads']} does not split over "
                f"{keyname(EXP, 'processes')} entry {P} (head-parallel and Ulysses give each process H/P heads)")
        for L in cfg["lengths"]:
            require(L % P == 0, f"{keyname(EXP, 'lengths')} entry {L} does not split over "
                    f"{keyname(EXP, 'processes')} entry {P} (ring and Ulysses give each process L/P tokens)")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    checks = [CHECKS.format(P=P) for P in cfg["processes"]]
    return [
        Step("check", "attnlab.distributed_attention.measure", "analysis", output={"checks": CHECKS},
             constraints={"P": r"\d+"}, tasks=lambda w: int(w["P"]), threads=2, runtime=20,
             params=lambda w: check_params(cfg, seed0, int(w["P"]))),
        evaluate_step(EXPERIMENT, ctx, input={"checks": checks}, output=METRICS, mem_mb=1000, runtime=5,
                      params={"input_seeds": input_seeds(cfg, seed0), "tolerance": cfg["tolerance"],
                              "bytes_tolerance": cfg["bytes_tolerance"],
                              "growth_per_process": cfg["growth_per_process"]}),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP)}, params={},
                   figures={"feasible": "max feasible length vs processes"}),
    ]


# The spec's mini checks (shared/papers/distributed_attention.md): "P ∈ {2, 4}, causal and
# noncausal, L ∈ {256, 1024}, H=8, d_head=16, fp32", "within 1e−5", "match the analytic volume
# within 1%", "grows ≥ 3.5× from P=1 to P=4"; "3 random inputs". Full: "H=16, d_head=64", "P ∈ {1, 2, 4, 8}".
_CHECKS = {"tolerance": 1e-5, "bytes_tolerance": 0.01, "growth_per_process": 0.875}
REFERENCE = {
    "mini": {**_CHECKS, "processes": Contains(2, 4), "lengths": Contains(256, 1024), "heads": 8, "d_head": 16,
             "seeds": 3},
    "full": {**_CHECKS, "processes": Contains(2, 4, 8), "heads": 16, "d_head": 64, "backend": "nccl"},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("feasible",), check=check, reference=REFERENCE)
