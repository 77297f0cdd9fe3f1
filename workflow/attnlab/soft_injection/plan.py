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

from attnlab.experiment import (
    Context,
    Experiment,
    Step,
    check_heads_divide_width,
    claims_path,
    evaluate_step,
    keyname,
    lm_train_step,
    require,
    run_files,
    table_step,
)
from attnlab.seeds import derive_seed
from attnlab.soft_injection import PAPER
from attnlab.tasks import TASKS

EXP = "soft_injection"
RESULTS = f"results/{EXP}"
DATA = RESULTS + "/data/{split}/seed{seed}.parquet"
RUN = RESULTS + "/runs/seed{seed}"
ANALYSIS = RESULTS + "/analysis/seed{seed}/{name}.parquet"
OUTPUTS = ("tasks", "alpha", "transfer")
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "tasks", "transfer", "alpha")}


def data_path(split: str, seed: int) -> str:
    return DATA.format(split=split, seed=seed)


def run_dir(seed: int) -> str:
    return RUN.format(seed=seed)


def analysis_path(seed: int, name: str) -> str:
    return ANALYSIS.format(seed=seed, name=name)


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
    return {"seed": derive_seed(base_seed, EXP, split, seed), "parts": parts}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    model = {**cfg["model"], "vocab_size": vocab_size(cfg), "n_positions": max_len(cfg), "attention": "softmax",
             "attention_options": {}}
    return {"model": model, "train": cfg["train"], "seed": derive_seed(base_seed, EXP, "model", seed)}


def analysis_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"task_vocab": vocab_size(cfg), "n_tasks": n_tasks(cfg), "per_family": cfg["icl"]["per_family"],
            "n_inputs": cfg["icl"]["n_inputs"], "n_outputs": cfg["icl"]["n_outputs"],
            "mapping_seed": mapping_seed(base_seed, seed), "noise": cfg["noise"], "fit_steps": cfg["fit_steps"],
            "fit_lr": cfg["fit_lr"], "seed": derive_seed(base_seed, EXP, "fit", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"seed_index": s, "seed": derive_seed(base_seed, EXP, "model", s), "model_dir": run_dir(s),
             **{n: analysis_path(s, n) for n in OUTPUTS}} for s in range(cfg["seeds"])]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "shots": cfg["shots"], "noise": cfg["noise"],
            **{k: cfg[k] for k in ("i1_margin", "i2_margin", "icl_lift", "competence")}}


def table_params(cfg: dict) -> dict:
    m, t, icl = cfg["model"], cfg["train"], cfg["icl"]
    return {"model_note": f"{m['n_layer']} layers × {m['n_head']} heads, d={m['n_embd']}, "
                          f"{m.get('position_encoding', 'learned')} positions, {t['steps']} steps × batch "
                          f"{t['batch_size']}, lr {t['lr']}",
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
    man = manifest(cfg, seed0)
    return [
        Step("synth", "attnlab.tasks.synth", "synth", output={"data": DATA}, constraints={"split": "train|eval"},
             params=lambda w: synth_params(cfg, seed0, w["split"], int(w["seed"]))),
        lm_train_step(RUN, ctx.seeds, data=lambda w: data_path("train", int(w["seed"])),
                      params=lambda w: train_params(cfg, seed0, int(w["seed"]))),
        Step("analyse", "attnlab.soft_injection.analyse", "analysis", mem_mb=2000, runtime=15,
             input=lambda w: {"model": f"{run_dir(int(w['seed']))}/config.json",
                              "weights": f"{run_dir(int(w['seed']))}/model.safetensors",
                              "data": data_path("eval", int(w["seed"]))},
             output={n: ANALYSIS.replace("{name}", n) for n in OUTPUTS},
             params=lambda w: analysis_params(cfg, seed0, int(w["seed"])), mechanisms=("softmax",)),
        evaluate_step(EXPERIMENT, ctx, output=METRICS, params=evaluate_params(cfg, seed0), mechanisms=("softmax",),
                      input={"analysis": [m[n] for m in man for n in OUTPUTS],
                             "models": [f for m in man for f in run_files(m["model_dir"])]}),
        table_step(EXPERIMENT, ctx, input={n: METRICS[n] for n in METRICS} | {"claims": claims_path(EXP)},
                   params=table_params(cfg),
                   figures={"conditions": "accuracy per task and condition", "transfer": "α transfer matrix"}),
    ]


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
