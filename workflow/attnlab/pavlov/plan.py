"""Which pavlov jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.experiment import (
    Context,
    Experiment,
    Span,
    Step,
    claims_path,
    evaluate_step,
    keyname,
    require,
    table_step,
)
from attnlab.pavlov import PAPER
from attnlab.seeds import derive_seed

EXP = "pavlov"
RESULTS = f"results/{EXP}"


CAPACITY = RESULTS + "/capacity/seed{seed}.parquet"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("capacity", "slopes")}


def capacity_path(seed: int) -> str:
    return CAPACITY.format(seed=seed)


def capacity_paths(cfg: dict) -> list[str]:
    return [capacity_path(s) for s in range(cfg["seeds"])]


def measure_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"seed_index": seed, "seed": derive_seed(base_seed, EXP, "capacity", seed),
            "d_ks": cfg["d_ks"], "d_v": cfg["d_v"], "trials": cfg["trials"],
            "min_pairs": cfg["min_pairs"], "n_max_factor": cfg["n_max_factor"]}


def evaluate_params(cfg: dict) -> dict:
    return {"d_ks": cfg["d_ks"]}


def table_params(cfg: dict) -> dict:
    return {"d_v": cfg["d_v"], "trials": cfg["trials"], "min_pairs": cfg["min_pairs"]}


def runtime_min(cfg: dict) -> int:
    """Minutes to request for one seed: the all-pairs search costs ~ trials · d_k³ (N ≈ d_k), about
    10 s per seed up to d_k = 256 with 100 trials on one thread; 3× margin."""
    scale = (max(cfg["d_ks"]) / 256) ** 3 * cfg["trials"] / 100
    return max(15, int(3 * 10 * scale / 60) + 1)


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    require(len(set(ctx.cfg["d_ks"])) >= 2, f"{keyname(EXP, 'd_ks')} = {ctx.cfg['d_ks']}: a capacity slope needs at "
            "least two distinct key dimensions")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    return [
        Step("capacity", "attnlab.pavlov.measure", "analysis", output={"capacity": CAPACITY},
             runtime=runtime_min(cfg), params=lambda w: measure_params(cfg, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, input={"capacity": capacity_paths(cfg)}, output=METRICS,
                      params=evaluate_params(cfg), mem_mb=1000, runtime=5),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP)}, params=table_params(cfg),
                   figures={"capacity": "capacity vs d_k"}),
    ]


# The spec's settings (shared/papers/pavlov.md): "d_v = 64"; "Sweep d_k in {16..512} (mini ...) or up
# to 4096 (full)".
REFERENCE = {"mini": {"d_v": 64, "d_ks": Span(16, 512)}, "full": {"d_v": 64, "d_ks": Span(16, 4096)}}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("capacity",), check=check,
                        reference=REFERENCE)
