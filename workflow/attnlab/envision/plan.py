"""Which envision jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.envision import PAPER
from attnlab.experiment import Context, Experiment, Step, claims_path, evaluate_step, table_step
from attnlab.ir_diffusion.plan import IR_AUTHORS
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

EXP = "envision"
RESULTS = f"results/{EXP}"
PROMPTS = f"{RESULTS}/data/prompts.json"
TRUTH = f"{RESULTS}/data/truth.json"


def check_real_path(cfg: dict) -> None:
    _check(EXP, cfg, "an Envision JSON file")


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"n_prompts": cfg["n_prompts"], "real_path": cfg.get("real_path"), "size": vision["image_size"],
            "seed": derive_seed(base_seed, EXP, "prompts"), "seeds": cfg["seeds"], **world_params(vision)}  # each seed its own prompts


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return consistency_params(EXP, cfg, vision, base_seed, seed)


def evaluate_params(cfg: dict, config: dict) -> dict:
    return {"bootstrap": cfg["bootstrap"], **competence_params(config)}


# --- the experiment record ---------------------------------------------------------------------

SCORES = f"{RESULTS}/metrics/scores.parquet"


def check(ctx: Context) -> None:
    check_real_path(ctx.cfg)


def steps(ctx: Context) -> list[Step]:
    cfg, vision, seed0 = ctx.cfg, ctx.vision, ctx.base_seed
    images, data = sample_dirs(EXP, cfg), {"prompts": PROMPTS, "truth": TRUTH}
    return [
        Step("prompts", "attnlab.envision.synth", "synth", output=data, params=synth_params(cfg, vision, seed0)),
        generate_step(ctx, input=data, params=lambda w: generate_params(cfg, vision, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, input={**data, "images": images, "competence": COMPETENCE},
                      output={"scores": SCORES}, params=evaluate_params(cfg, ctx.config), mem_mb=1000, runtime=10),
        table_step(EXPERIMENT, ctx, input={"scores": SCORES, "claims": claims_path(EXP), "images": images}, params={},
                   figures={"samples": "sample grid", "scores": "sub-scores"}),
    ]


# The IR processors' settings as the authors implement them (shared/papers/ir_diffusion.md: this
# experiment's cross-frame consistency attention is IR-style sharing), and "1,000 prompts at full scale"
# (shared/papers/envision.md).
REFERENCE = {"mini": IR_AUTHORS, "full": {**IR_AUTHORS, "n_prompts": 1000}}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("samples", "scores"), check=check, shared_blocks=("vision",),
                        reference=REFERENCE)
