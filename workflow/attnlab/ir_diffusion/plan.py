"""Which ir_diffusion jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.experiment import (
    Contains,
    Context,
    Experiment,
    Step,
    claims_path,
    evaluate_step,
    table_step,
)
from attnlab.ir_diffusion import PAPER
from attnlab.seeds import derive_seed
from attnlab.vision.plan import (
    COMPETENCE,
    competence_params,
    consistency_params,
    generate_step,
    sample_dirs,
    world_params,
)

EXP = "ir_diffusion"
RESULTS = f"results/{EXP}"
CASES = f"{RESULTS}/data/cases.parquet"


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    """Every seed draws its own cases (one file, a seed_index column)."""
    return {"subject_counts": cfg["subject_counts"], "cases_per_count": cfg["cases_per_count"],
            "size": vision["image_size"], "seed": derive_seed(base_seed, EXP, "cases"), "seeds": cfg["seeds"],
            **world_params(vision)}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return {"variants": cfg["variants"], **consistency_params(EXP, cfg, vision, base_seed, seed)}


def evaluate_params(cfg: dict, config: dict) -> dict:
    return {"variants": cfg["variants"], "bootstrap": cfg["bootstrap"],
            "bootstrap_seed": 0, "subject_counts": cfg["subject_counts"], **competence_params(config)}


# --- the experiment record ---------------------------------------------------------------------

METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("subjects", "summary")}


def steps(ctx: Context) -> list[Step]:
    cfg, vision, seed0 = ctx.cfg, ctx.vision, ctx.base_seed
    images = sample_dirs(EXP, cfg)
    return [
        Step("cases", "attnlab.ir_diffusion.synth", "synth", output={"cases": CASES},
             params=synth_params(cfg, vision, seed0)),
        generate_step(ctx, input={"cases": CASES}, params=lambda w: generate_params(cfg, vision, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, input={"cases": CASES, "images": images, "competence": COMPETENCE},
                      output=METRICS, params=evaluate_params(cfg, ctx.config), mem_mb=1000, runtime=10),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP), "images": images}, params={},
                   figures={"samples": "sample grid"}),
    ]


# The authors' processor settings (shared/papers/ir_diffusion.md, "Mechanism (as implemented by the
# authors)"): self-attention layers, "decoder layers by default"; "50% random token dropout"; no logit
# bias on reference keys (the +3 is ours, from the spec's measured mini run). The variants and
# "1-, 2- and 3-subject cases" of "Our experiment". mucr and envision use the same processors.
IR_AUTHORS = {"layers": "decoder", "token_dropout": 0.5, "ref_bias": 0.0}
_IR = {**IR_AUTHORS, "variants": Contains("vanilla", "share", "share_isolate", "share_reposition", "full"),
       "subject_counts": Contains(1, 2, 3)}
REFERENCE = {"mini": _IR, "full": _IR}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("samples",), shared_blocks=("vision",),
                        reference=REFERENCE)
