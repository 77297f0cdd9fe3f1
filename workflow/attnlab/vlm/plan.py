"""Which jobs the base VLM (experiment `vlm`, shared/papers/vlm_design.md) asks for, and their params.
Read by the Snakefile at parse time (no torch import).

Per seed k (one chain of jobs per seed, so three seeds pack onto two cores; the loop engine would
train a stack's members one after another in one job, which pays nothing here):
    synth    results/vlm/data/seed{k}/{train,dev,test}.parquet + prior.json   (attnlab.vlm.synth)
    train_v  results/vlm/runs/V/seed{k}   the vision tower + multi-label heads
    train_t  results/vlm/runs/T/seed{k}   the LM on text (learns the co-occurrence prior)
    train_a  results/vlm/runs/A/seed{k}   the projector (tower and LM frozen), captions
    train_s  results/vlm/runs/S/seed{k}   projector + LM, the instruction mix: THE base model
    predict  results/vlm/predictions/seed{k}.parquet   greedy answers on the test split
then `evaluate` (CHAIR, POPE per split, VQA per seed; the design's bars as checks; the learning
curves gathered from the train logs) and `table` (the base-model metric table + learning curves).

The model, data and stage settings live in the top-level `vlm` block, shared with every
experiment that stands on this model (vit_heads reads the stage-V towers); `experiments.vlm`
holds the seeds, the bars and the evaluation settings.
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
    run_files,
    table_step,
)
from attnlab.seeds import derive_seed

EXP = "vlm"
PAPER = "A tiny LLaVA-style vision-language model on the image world (shared/papers/vlm_design.md; base model)"
RESULTS = f"results/{EXP}"
DATA_DIR = RESULTS + "/data/seed{seed}"
SPLITS = ("train", "dev", "test")
STAGES = ("V", "T", "A", "S")
RUN = RESULTS + "/runs/{stage}/seed{seed}"
PREDICTIONS = RESULTS + "/predictions/seed{seed}.parquet"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "curves", "captions")}


def data_path(seed: int, split: str) -> str:
    return f"{DATA_DIR.format(seed=seed)}/{split}.parquet"


def prior_path(seed: int) -> str:
    return f"{DATA_DIR.format(seed=seed)}/prior.json"


def run_dir(stage: str, seed: int) -> str:
    return RUN.format(stage=stage, seed=seed)


def stage_files(stage: str, seed: int) -> list[str]:
    """What a later step reads from a stage's run directory."""
    files = run_files(run_dir(stage, seed))
    if stage == "V":
        files.append(f"{run_dir(stage, seed)}/vision_heads.safetensors")
    return files


def model_seed(base_seed: int, seed: int) -> int:
    """One seed per (experiment, seed index): every stage of a chain initialises from it."""
    return derive_seed(base_seed, EXP, "model", seed)


def synth_params(vlm: dict, base_seed: int, seed: int) -> dict:
    d = vlm["data"]
    image = vlm["model"]["vision"]
    return {"seed": derive_seed(base_seed, EXP, "data", seed), "prior_seed": derive_seed(base_seed, EXP, "prior"),
            "prior_strength": d["prior_strength"], "n": dict(d["n"]), "causal_fraction": d["causal_fraction"],
            "max_subjects": d["max_subjects"], "size": image.get("image_size", 32), "patch": image.get("patch_size", 4),
            **({"s_mix": dict(d["s_mix"])} if d.get("s_mix") is not None else {})}


def train_params(vlm: dict, base_seed: int, stage: str, seed: int) -> dict:
    p = {"stage": stage, "seeds": [model_seed(base_seed, seed)], "train": dict(vlm["stages"][stage]), "engine": "loop"}
    if stage == "V":
        p |= {"vision": dict(vlm["model"]["vision"]), "max_count": vlm["max_count"], "patch_weight": vlm["patch_weight"]}
    elif stage == "T":
        p["text"] = dict(vlm["model"]["text"])
    elif stage == "A":
        p["vlm"] = dict(vlm["model"].get("vlm") or {})
        if vlm.get("align_trains_lm"):  # absent / false: the design's projector-only alignment, params unchanged
            p["align_trains_lm"] = True
    if stage in ("A", "S") and vlm.get("loss_per_example"):  # absent / false: the design's per-token mean
        p["loss_per_example"] = True
    return p


def stage_inputs(stage: str, seed: int) -> dict:
    inputs = {"data": data_path(seed, "train")}
    if stage == "A":
        inputs |= {"vision": f"{run_dir('V', seed)}/config.json", "text": f"{run_dir('T', seed)}/config.json",
                   "files": stage_files("V", seed) + stage_files("T", seed)}
    elif stage == "S":
        inputs |= {"init": f"{run_dir('A', seed)}/config.json", "files": stage_files("A", seed)}
    return inputs


def predict_params(cfg: dict, base_seed: int, seed: int) -> dict:
    e = cfg["eval"]
    return {"batch_size": e["batch_size"], "per_task": e.get("per_task"),
            "seed": derive_seed(base_seed, EXP, "eval", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"seed_index": s, "seed": model_seed(base_seed, s), "model_dir": run_dir("S", s),
             "predictions": PREDICTIONS.format(seed=s), "test": data_path(s, "test"), "prior": prior_path(s),
             "logs": {st: f"{run_dir(st, s)}/train_log.jsonl" for st in STAGES}}
            for s in range(cfg["seeds"])]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "competence": dict(cfg["competence"]),
            "chair_band": dict(cfg["chair_band"]), "shuffle_seed": derive_seed(base_seed, EXP, "shuffle")}


def model_note(vlm: dict) -> str:
    v, t, st = vlm["model"]["vision"], vlm["model"]["text"], vlm["stages"]
    return (f"ViT d={v['n_embd']} {v['n_layer']}×{v['n_head']} over {v.get('image_size', 32)}² renders (patch "
            f"{v.get('patch_size', 4)}), LM d={t['n_embd']} {t['n_layer']}×{t['n_head']} "
            f"{t.get('position_encoding', 'learned')} θ={t.get('rope_theta', '—')}; stages "
            + ", ".join(f"{s} {st[s]['steps']}×{st[s]['batch_size']}" for s in STAGES))


def table_params(cfg: dict, vlm: dict) -> dict:
    d = vlm["data"]
    return {"model_note": model_note(vlm), "competence": dict(cfg["competence"]), "chair_band": dict(cfg["chair_band"]),
            "data_note": f"prior_strength {d['prior_strength']}, {d['n']['train']} training rows per stage T/A/S, "
                         f"test unit {d['n']['test']} (per_task {cfg['eval'].get('per_task') or 'all'}), "
                         f"max_subjects {d['max_subjects']}, causal_fraction {d['causal_fraction']}"}


# --- the experiment record ---------------------------------------------------------------------


def check_vlm_block(config: dict) -> None:
    """Cross-key constraints of the top-level `vlm` block (model, stages)."""
    vlm = config.get("vlm") or {}
    model = vlm.get("model")
    if not model:
        return
    v, t = model["vision"], model["text"]
    require(v["n_embd"] % v["n_head"] == 0, f"vlm.model.vision.n_embd = {v['n_embd']} is not divisible by "
            f"vlm.model.vision.n_head = {v['n_head']}")
    require(t["n_embd"] % t["n_head"] == 0, f"vlm.model.text.n_embd = {t['n_embd']} is not divisible by "
            f"vlm.model.text.n_head = {t['n_head']}")
    require(v.get("image_size", 32) % v.get("patch_size", 4) == 0,
            f"vlm.model.vision.image_size = {v.get('image_size', 32)} is not a multiple of "
            f"vlm.model.vision.patch_size = {v.get('patch_size', 4)}")
    require(vlm["max_count"] >= vlm["data"]["max_subjects"],
            f"vlm.max_count = {vlm['max_count']} is below vlm.data.max_subjects = {vlm['data']['max_subjects']}: "
            "stage V's count head could not name every scene's count")
    require(vlm["data"]["n"]["train"] > 0, "vlm.data.n.train must be > 0: every stage trains on it")
    mix = vlm["data"].get("s_mix")
    if mix is not None:
        total = sum(float(v) for v in mix.values())
        require(abs(total - 1.0) <= 1e-6, f"vlm.data.s_mix: the shares (caption {mix.get('caption')}, existence "
                f"{mix.get('existence')}, vqa {mix.get('vqa')}) sum to {total:g}, not 1")
    require(vlm["data"]["n"]["test"] > 0, "vlm.data.n.test must be > 0: the evaluation reads the test split")


def check(ctx: Context) -> None:
    check_vlm_block(ctx.config)
    b = ctx.cfg["chair_band"]
    require(b["lo"] < b["hi"], f"{keyname(EXP, 'chair_band', 'lo')} = {b['lo']} is not below "
            f"{keyname(EXP, 'chair_band', 'hi')} = {b['hi']}")


def stage_outputs(stage: str) -> dict:
    run = RUN.replace("{stage}", stage)
    out = dict(zip(("config", "train_log", "model"), run_files(run)))
    if stage == "V":
        out["heads"] = f"{run}/vision_heads.safetensors"
    return out


def train_step(stage: str, vlm: dict, seed0: int) -> Step:
    return Step(f"train_{stage.lower()}", "attnlab.vlm.train", "train", threads=None, mem_mb=3000, runtime=60,
                input=lambda w: stage_inputs(stage, int(w["seed"])),
                output=stage_outputs(stage),
                params=lambda w: train_params(vlm, seed0, stage, int(w["seed"])),
                cli_outputs=lambda w: {"run_dir": [run_dir(stage, int(w["seed"]))]},
                code=("attnlab.vlm.modeling", "attnlab.vlm.layout", "attnlab.vlm.configuration",
                      "attnlab.vlm.processor", "attnlab.lm.modeling", "attnlab.train.stack", "attnlab.train.trainer"),
                mechanisms=("softmax",))


def steps(ctx: Context) -> list[Step]:
    cfg, seed0, vlm = ctx.cfg, ctx.base_seed, ctx.config["vlm"]
    man = manifest(cfg, seed0)
    return [
        Step("synth", "attnlab.vlm.synth", "synth", mem_mb=2000, runtime=10,
             output={**{s: f"{DATA_DIR}/{s}.parquet" for s in SPLITS}, "prior": f"{DATA_DIR}/prior.json"},
             params=lambda w: synth_params(vlm, seed0, int(w["seed"])), code=("attnlab.vlm.data",)),
        *(train_step(stage, vlm, seed0) for stage in STAGES),
        Step("predict", "attnlab.vlm.predict_step", "analysis", mem_mb=3000, runtime=30,
             input=lambda w: {"model": f"{run_dir('S', int(w['seed']))}/config.json", "files": stage_files("S", int(w["seed"])),
                              "data": data_path(int(w["seed"]), "test")},
             output={"predictions": PREDICTIONS}, params=lambda w: predict_params(cfg, seed0, int(w["seed"])),
             code=("attnlab.vlm.predict", "attnlab.vlm.modeling", "attnlab.vlm.layout", "attnlab.lm.modeling"),
             mechanisms=("softmax",)),
        evaluate_step(EXPERIMENT, ctx, output=METRICS, params=evaluate_params(cfg, seed0),
                      input={"predictions": [m["predictions"] for m in man], "test": [m["test"] for m in man],
                             "prior": [m["prior"] for m in man],
                             "logs": [m["logs"][st] for m in man for st in STAGES]},
                      code=("attnlab.vlm.metrics",)),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP)}, params=table_params(cfg, vlm),
                   figures={"curves": "learning curves of the four stages"}),
    ]


# The design's settings (vlm_design.md §2-§4). Mini: ViT d=128 4×4, LM d=128 6×4 RoPE θ=500; stages
# V 1500×32, T 1000×32, A 500×16, S 2500×16; prior_strength 0.6, max_subjects 3 (1-3 subjects);
# the bars POPE-random ≥ 0.80, caption object precision ≥ 0.75, baseline CHAIR_I about 5-25%.
# The design's stage V trains CLS heads only (vlm_design §4): "/vlm.patch_weight" 0; the per-patch loss is
# ours (a deviation the table notes list).
_BARS = {"competence.pope_random": 0.8, "competence.caption_precision": 0.75, "chair_band.lo": 0.05,
         "chair_band.hi": 0.25, "/vlm.patch_weight": 0.0}
REFERENCE = {
    "mini": {**_BARS, "/vlm.model.vision.n_embd": 128, "/vlm.model.vision.n_layer": 4, "/vlm.model.vision.n_head": 4,
             "/vlm.model.text.n_embd": 128, "/vlm.model.text.n_layer": 6, "/vlm.model.text.n_head": 4,
             "/vlm.model.text.rope_theta": 500.0, "/vlm.data.prior_strength": 0.6, "/vlm.data.max_subjects": 3,
             "/vlm.stages.V.steps": 1500, "/vlm.stages.V.batch_size": 32, "/vlm.stages.T.steps": 1000,
             "/vlm.stages.T.batch_size": 32, "/vlm.stages.A.steps": 500, "/vlm.stages.A.batch_size": 16,
             "/vlm.stages.S.steps": 2500, "/vlm.stages.S.batch_size": 16, "seeds": Within(lo=3)},
    "full": {**_BARS, "/vlm.model.vision.image_size": 64, "/vlm.model.vision.n_embd": 384,
             "/vlm.model.vision.n_layer": 8, "/vlm.model.vision.n_head": 6, "/vlm.model.text.n_embd": 512,
             "/vlm.model.text.n_layer": 12, "/vlm.model.text.n_head": 8, "/vlm.model.text.rope_theta": 10000.0,
             "seeds": Within(lo=5)},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, spec="vlm_design.md", steps=steps, figures=("curves",), check=check,
                        shared_blocks=("vlm",), reference=REFERENCE)
