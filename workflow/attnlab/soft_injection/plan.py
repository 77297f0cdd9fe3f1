"""Which soft_injection jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

Per seed: mapping-task data (attnlab.tasks.icl_tasks; the 16 mappings drawn from a per-seed
mapping seed shared by the seed's files): a training file (demonstrations uniform in
0..max_demos, all tasks mixed, every token after BOS a target) and an evaluation file (per task:
the N-shot prompts that build its embedding, the zero-shot prompts that fit its α, the N-shot test
prompts); one causal LM trained on the training file; and the soft-injection analysis
(attnlab.soft_injection.analyse; any model by path).
"""

from __future__ import annotations

from attnlab.experiment import Context, Experiment, Step, check_heads_divide_width, keyname, require
from attnlab.lm_task import Analysis, LMTask, model_note
from attnlab.seeds import derive_seed
from attnlab.soft_injection import PAPER
from attnlab.tasks import TASKS

EXP = "soft_injection"
OUTPUTS = ("tasks", "alpha", "transfer")
LAYOUT = LMTask(EXP, OUTPUTS)
RESULTS, DATA, RUN, ANALYSIS = LAYOUT.results, LAYOUT.data, LAYOUT.run, LAYOUT.analysis
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "tasks", "transfer", "alpha")}
data_path, run_dir, analysis_path = LAYOUT.data_path, LAYOUT.run_dir, LAYOUT.analysis_path


def n_tasks(cfg: dict) -> int:
    return cfg["icl"]["n_families"] * cfg["icl"]["per_family"]


def vocab_size(cfg: dict) -> int:
    return TASKS["icl_tasks"].vocab_size(**cfg["icl"])


def max_len(cfg: dict) -> int:
    return 2 * max(cfg["max_demos"], cfg["shots"]) + 3


def mapping_seed(base_seed: int, seed: int) -> int:
    return derive_seed(base_seed, EXP, "mapping", seed)


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    icl = {"task": "icl_tasks", **cfg["icl"], "mapping_seed": mapping_seed(base_seed, seed)}
    if split == "train":
        parts = [{**icl, "n": cfg["n_train"], "min_demos": 0, "max_demos": cfg["max_demos"],
                  "noise": cfg["train_noise"]}]
    else:  # analyse.py reads the parts in this order: embed, fit, test, each one part per task
        N, noise = cfg["shots"], cfg["noise"]
        roles = [(cfg["n_embed"], N, noise), (cfg["n_fit"], 0, 0.0), (cfg["n_test"], N, noise)]
        parts = [{**icl, "n": n, "min_demos": k, "max_demos": k, "noise": z, "tasks": [t]}
                 for n, k, z in roles for t in range(n_tasks(cfg))]
    return {"seed": LAYOUT.synth_seed(base_seed, split, seed), "parts": parts}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return LAYOUT.train_params(cfg, base_seed, seed, vocab_size=vocab_size(cfg), n_positions=max_len(cfg))


def analysis_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"task_vocab": vocab_size(cfg), "n_tasks": n_tasks(cfg), "per_family": cfg["icl"]["per_family"],
            "n_inputs": cfg["icl"]["n_inputs"], "n_outputs": cfg["icl"]["n_outputs"],
            "mapping_seed": mapping_seed(base_seed, seed), "noise": cfg["noise"], "fit_steps": cfg["fit_steps"],
            "fit_lr": cfg["fit_lr"], "seed": derive_seed(base_seed, EXP, "fit", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return LAYOUT.manifest(cfg, base_seed)


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "shots": cfg["shots"], "noise": cfg["noise"],
            **{k: cfg[k] for k in ("i1_margin", "i2_margin", "icl_lift", "competence")}}


def table_params(cfg: dict) -> dict:
    icl = cfg["icl"]
    return {"model_note": model_note(cfg),
            "task_note": f"{n_tasks(cfg)} mappings from {icl['n_inputs']} input to {icl['n_outputs']} output symbols "
                         f"in {icl['n_families']} families of {icl['per_family']} (75% shared within a family); "
                         f"{cfg['n_train']} training prompts with 0..{cfg['max_demos']} demonstrations, "
                         f"{cfg['train_noise']:.0%} of their outputs noisy",
            "shots": cfg["shots"], "noise": cfg["noise"], "n_embed": cfg["n_embed"], "n_fit": cfg["n_fit"],
            "n_test": cfg["n_test"], "fit_steps": cfg["fit_steps"], "fit_lr": cfg["fit_lr"]}


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    cfg = ctx.cfg
    check_heads_divide_width(EXP, cfg["model"])
    require(cfg["shots"] <= cfg["max_demos"],
            f"{keyname(EXP, 'shots')} = {cfg['shots']} exceeds {keyname(EXP, 'max_demos')} = {cfg['max_demos']}: "
            "the N-shot test prompts (and the competence gate read on them) must lie in the training distribution")
    require(cfg["shots"] >= 1, f"{keyname(EXP, 'shots')} must be at least 1 (the ICL condition has demonstrations)")
    icl = cfg["icl"]
    require(icl["per_family"] <= icl["n_outputs"],
            f"{keyname(EXP, 'icl', 'per_family')} = {icl['per_family']} exceeds {keyname(EXP, 'icl', 'n_outputs')} "
            f"= {icl['n_outputs']}: the tasks of a family need distinct outputs on their own block")
    require(icl["per_family"] >= 2 and icl["n_families"] >= 2,
            f"{keyname(EXP, 'icl', 'per_family')} and {keyname(EXP, 'icl', 'n_families')} must be at least 2 "
            "(the transfer claim compares same-family and cross-family pairs)")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    return LAYOUT.steps(
        EXPERIMENT, ctx, synth_params=synth_params, train_params=train_params,
        analysis=Analysis("attnlab.soft_injection.analyse", lambda s: analysis_params(cfg, seed0, s)),
        evaluate_params=evaluate_params(cfg, seed0), metrics=METRICS, table_params=table_params(cfg),
        figures={"conditions": "accuracy per task and condition", "transfer": "α transfer matrix"})


# The spec's settings (shared/papers/soft_injection.md). Mini: 16 mappings 32 → 32 in 4 families of 4, training
# prompts with 0..10 demonstrations; 3 layers × 4 heads, d=64, rope; AdamW 3e-3, batch 64, 1,200 steps; M = 50
# embedding prompts of N = 10 demonstrations, 20% noisy; α fitted on 64 zero-shot prompts, 200 Adam steps, lr 0.1;
# 200 test queries per task; I1 +2 points, I2 0.15, the I1 gate ICL ≥ 2 × zero-shot. The competence bar is ours
# (the brief asks for an in-distribution accuracy bar; config/README.md), fixed before any run.
_METRIC = {"i1_margin": 0.02, "i2_margin": 0.15, "icl_lift": 2.0, "shots": 10, "noise": 0.2, "n_embed": 50}
REFERENCE = {
    "mini": {**_METRIC, "icl.n_families": 4, "icl.per_family": 4, "icl.n_inputs": 32, "icl.n_outputs": 32,
             "max_demos": 10, "n_fit": 64, "n_test": 200, "fit_steps": 200, "fit_lr": 0.1, "model.n_layer": 3,
             "model.n_head": 4, "model.n_embd": 64, "model.position_encoding": "rope", "train.lr": 0.003,
             "train.batch_size": 64, "train.steps": 1200},
    "full": {**_METRIC, "model.n_layer": 6, "model.n_embd": 256, "seeds": 5},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("conditions", "transfer"), check=check,
                        reference=REFERENCE)
