"""Which attention_costs jobs a config asks for: one timing sweep per seed (independent random
inputs), then evaluate and table."""

from __future__ import annotations

from attnlab.attention_costs import PAPER
from attnlab.attention_costs.theory import MECHANISMS, PASSES
from attnlab.experiment import Context, Experiment, Step, claims_path, evaluate_step, keyname, require, table_step
from attnlab.metrics.scaling import doubling
from attnlab.seeds import derive_seed

EXP = "attention_costs"
RESULTS = f"results/{EXP}"
SWEEP = RESULTS + "/sweeps/seed{seed}.parquet"
METRICS = {"fits": f"{RESULTS}/metrics/fits.parquet"}


def sweep_params(cfg: dict, base_seed: int, seed: int) -> dict:
    # threads 1: one-thread timing (the job holds every core only to keep other jobs off them)
    return {"seed_index": seed, "seed": derive_seed(base_seed, EXP, "inputs", seed), "threads": 1, "lengths": cfg["lengths"],
            "repeats": cfg["repeats"], "d_model": cfg["d_model"], "heads": cfg["heads"],
            "mechanisms": {**{n: {"attention": a, "options": o} for n, (a, o, *_) in MECHANISMS.items()},
                           **{i: {"attention": i, "options": {}} for i in PASSES}}}


def check(ctx: Context) -> None:
    cfg = ctx.cfg
    require(len(set(cfg["lengths"])) >= 3, f"{keyname(EXP, 'lengths')} = {cfg['lengths']}: a slope with an "
            "interval needs at least three distinct lengths")
    require(doubling(sorted(set(cfg["lengths"]))), f"{keyname(EXP, 'lengths')} = {cfg['lengths']}: the lengths must "
            "double from one to the next (the memory exponent is read from second differences)")
    require(cfg["d_model"] % cfg["heads"] == 0, f"{keyname(EXP, 'd_model')} = {cfg['d_model']} is not divisible by "
            f"{keyname(EXP, 'heads')} = {cfg['heads']}")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    sweeps = [SWEEP.format(seed=s) for s in range(cfg["seeds"])]
    return [
        # exclusive: the sweep holds every core (config timing_cores), so no other job runs beside it
        Step("sweep", "attnlab.attention_costs.measure", "analysis", output={"sweep": SWEEP}, exclusive=True,
             runtime=30, mem_mb=3000, params=lambda w: sweep_params(cfg, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, input={"sweeps": sweeps}, output=METRICS, mem_mb=1000, runtime=5,
                      params={"tolerance": cfg["tolerance"], "quadratic_floor": cfg["quadratic_floor"],
                              "d_model": cfg["d_model"], "heads": cfg["heads"]}),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP), "sweeps": sweeps},
                   params={"d_model": cfg["d_model"], "heads": cfg["heads"]},
                   figures={"curves": "time against length"}),
    ]


# issue 15: "within 0.1 of its theory"; the superlinear spec's instrument floor (dense slope >= 1.75)
REFERENCE = {"mini": {"tolerance": 0.1, "quadratic_floor": 1.75}, "full": {"tolerance": 0.1, "quadratic_floor": 1.75}}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("curves",), check=check, reference=REFERENCE)
