"""Which mucr jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.experiment import Context, Experiment, Step, claims_path, evaluate_step, table_step
from attnlab.ir_diffusion.plan import IR_AUTHORS
from attnlab.mucr import PAPER
from attnlab.seeds import derive_seed
from attnlab.vision.plan import (
    COMPETENCE,
    competence_params,
    consistency_params,
    generate_step,
    sample_dirs,
    world_params,
)
from attnlab.vision.plan import check_real_path as _check

EXP = "mucr"
RESULTS = f"results/{EXP}"
PAIRS = f"{RESULTS}/data/pairs.parquet"


def check_real_path(cfg: dict) -> None:
    _check(EXP, cfg, "a MuCR Parquet file")


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"n_pairs": cfg["n_pairs"], "real_path": cfg.get("real_path"), "size": vision["image_size"],
            "seed": derive_seed(base_seed, EXP, "pairs"), "seeds": cfg["seeds"], **world_params(vision)}  # each seed its own pairs


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return consistency_params(EXP, cfg, vision, base_seed, seed)


def evaluate_params(cfg: dict, base_seed: int, config: dict) -> dict:
    return {"bootstrap": cfg["bootstrap"], "reasoner_seed": derive_seed(base_seed, EXP, "reasoner"),
            **competence_params(config)}


# --- the experiment record ---------------------------------------------------------------------

METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("pairs", "levels")}


def check(ctx: Context) -> None:
    check_real_path(ctx.cfg)


def steps(ctx: Context) -> list[Step]:
    cfg, vision, seed0 = ctx.cfg, ctx.vision, ctx.base_seed
    images = sample_dirs(EXP, cfg)
    return [
        Step("pairs", "attnlab.mucr.synth", "synth", output={"pairs": PAIRS}, params=synth_params(cfg, vision, seed0)),
        generate_step(ctx, input={"pairs": PAIRS}, params=lambda w: generate_params(cfg, vision, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, input={"pairs": PAIRS, "images": images, "competence": COMPETENCE},
                      output=METRICS, params=evaluate_params(cfg, seed0, ctx.config), mem_mb=1000, runtime=10),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP), "images": images}, params={},
                   figures={"samples": "sample grid"}),
    ]


# The IR processors' settings as the authors implement them (shared/papers/ir_diffusion.md): the
# consistency attention of this experiment is IR-Diffusion's.
REFERENCE = {"mini": IR_AUTHORS, "full": IR_AUTHORS}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("samples",), check=check, shared_blocks=("vision",),
                        reference=REFERENCE)
