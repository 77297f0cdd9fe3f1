"""Which vit_heads jobs a config asks for, and their params (read at parse time; no torch import).

vit_heads trains nothing: per seed it analyses the base VLM's stage-V tower
(results/vlm/runs/V/seed{k}, experiment `vlm`) on that seed's dev and test renders
(attnlab.vit_heads.analyse), then checks the spec's claims over seeds (evaluate) and writes the
table and figures.
"""

from __future__ import annotations

from attnlab.experiment import (
    Context,
    Experiment,
    Step,
    Within,
    claims_path,
    evaluate_step,
    keyname,
    require,
    table_step,
)
from attnlab.seeds import derive_seed
from attnlab.vit_heads import PAPER
from attnlab.vlm import plan as vlm_plan

EXP = "vit_heads"
RESULTS = f"results/{EXP}"
ANALYSIS = RESULTS + "/analysis/seed{seed}/{name}.parquet"
OUTPUTS = ("images", "heads", "profile", "clusters")
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("seeds", "heads", "profile", "clusters")}


def analysis_path(seed: int, name: str) -> str:
    return ANALYSIS.format(seed=seed, name=name)


def analysis_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"n_dev": cfg["n_dev"], "n_test": cfg["n_test"], "top_k": cfg["top_k"], "random_draws": cfg["random_draws"],
            "batch_size": cfg["batch_size"], "ae": dict(cfg["autoencoder"]),
            "seed": derive_seed(base_seed, EXP, "analysis", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"seed_index": s, "model_dir": vlm_plan.run_dir("V", s), **{n: analysis_path(s, n) for n in OUTPUTS}}
            for s in range(cfg["seeds"])]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "competence": dict(cfg["competence"]), "c1_drop": cfg["c1_drop"],
            "c1_ratio": cfg["c1_ratio"], "c2_rho": cfg["c2_rho"], "c3_distance": cfg["c3_distance"],
            "top_k": cfg["top_k"], "random_draws": cfg["random_draws"], "n_boot": cfg["n_boot"],
            "boot_seed": derive_seed(base_seed, EXP, "bootstrap")}


def table_params(cfg: dict, vlm: dict) -> dict:
    v, st = vlm["model"]["vision"], vlm["stages"]["V"]
    return {"model_note": f"ViT d={v['n_embd']} {v['n_layer']} layers × {v['n_head']} heads, 64 patches + CLS, "
                          f"stage V {st['steps']} steps × batch {st['batch_size']}",
            "n_test": cfg["n_test"], "n_dev": cfg["n_dev"], "n_boot": cfg["n_boot"]}


def check(ctx: Context) -> None:
    cfg, vlm_cfg = ctx.cfg, ctx.config["experiments"]["vlm"]
    require(cfg["seeds"] <= vlm_cfg["seeds"], f"{keyname(EXP, 'seeds')} = {cfg['seeds']} exceeds "
            f"experiments.vlm.seeds = {vlm_cfg['seeds']}: vit_heads analyses the base model's stage-V towers")
    v = ctx.config["vlm"]["model"]["vision"]
    n_heads = v["n_layer"] * v["n_head"]
    require(cfg["top_k"] < n_heads, f"{keyname(EXP, 'top_k')} = {cfg['top_k']} must be below the tower's "
            f"{n_heads} heads (vlm.model.vision.n_layer × n_head)")
    require(v["n_layer"] >= 2, f"vlm.model.vision.n_layer = {v['n_layer']}: {keyname(EXP)} C3 compares layers, "
            "it needs >= 2")
    ae = cfg["autoencoder"]
    require(ae["k_min"] <= ae["k_max"], f"{keyname(EXP, 'autoencoder', 'k_min')} = {ae['k_min']} exceeds "
            f"{keyname(EXP, 'autoencoder', 'k_max')} = {ae['k_max']}")
    require(ae["images"] <= cfg["n_dev"] and ae["images"] <= cfg["n_test"],
            f"{keyname(EXP, 'autoencoder', 'images')} = {ae['images']} exceeds {keyname(EXP, 'n_dev')} or "
            f"{keyname(EXP, 'n_test')}")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    man = manifest(cfg, seed0)
    return [
        Step("analyse", "attnlab.vit_heads.analyse", "analysis", mem_mb=3000, runtime=30,
             input=lambda w: {"model": f"{vlm_plan.run_dir('V', int(w['seed']))}/config.json",
                              "files": vlm_plan.stage_files("V", int(w["seed"])),
                              "dev": vlm_plan.data_path(int(w["seed"]), "dev"),
                              "test": vlm_plan.data_path(int(w["seed"]), "test")},
             output={n: ANALYSIS.replace("{name}", n) for n in OUTPUTS},
             params=lambda w: analysis_params(cfg, seed0, int(w["seed"])), mechanisms=("softmax",),
             code=("attnlab.vit_heads.stats", "attnlab.vlm.predict", "attnlab.vlm.modeling", "attnlab.heads.patterns")),
        evaluate_step(EXPERIMENT, ctx, output=METRICS, params=evaluate_params(cfg, seed0),
                      input={"analysis": [m[n] for m in man for n in OUTPUTS]}, code=("attnlab.vit_heads.stats",)),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP)},
                   params=table_params(cfg, ctx.config["vlm"]),
                   figures={"importance": "head importance by three metrics",
                            "profile": "attention weight over patch distance per layer"}),
    ]


# The spec's settings (shared/papers/vit_heads.md): mini tower 4 layers × 4 heads (vlm_design), 2000 test
# renders per seed, top-2 heads vs 5 random draws, C1 ≥ 5 points and ≥ 3× random, C2 ρ ≥ 0.5, C3 gain ≥ 0.5 patch,
# autoencoder 64 → 16 → 64 with k in 2-8, ≥ 3 seeds. The competence bar is ours (the spec gives none).
_CLAIMS = {"top_k": 2, "random_draws": 5, "c1_drop": 0.05, "c1_ratio": 3.0, "c2_rho": 0.5, "c3_distance": 0.5,
           "autoencoder.code": 16, "autoencoder.k_min": 2, "autoencoder.k_max": 8}
REFERENCE = {
    "mini": {**_CLAIMS, "n_test": 2000, "seeds": Within(lo=3), "/vlm.model.vision.n_layer": 4,
             "/vlm.model.vision.n_head": 4},
    "full": {**_CLAIMS, "seeds": Within(lo=5), "/vlm.model.vision.n_layer": 8, "/vlm.model.vision.n_head": 6},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("importance", "profile"), check=check,
                        shared_blocks=("vlm",), reference=REFERENCE)
