"""Which circuits jobs a config asks for, and the params each gets. Read by the Snakefile at parse
time (no torch import).

Per seed: one training file mixing the four tasks uniformly (IOI-lite, CO-lite, MCQ-lite from
attnlab.tasks.circuits; the control is `markov_mixture` with one chain), one causal LM trained on it
(every token after BOS a target), held-out files per task, and the circuit analysis
(attnlab.circuits.analyse; any model by path).
"""

from __future__ import annotations

from attnlab.circuits import PAPER
from attnlab.experiment import Context, Experiment, Step, check_heads_divide_width, keyname, require
from attnlab.lm_task import Analysis, LMTask, model_note
from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS
from attnlab.tasks.circuits import N_NAMES

EXP = "circuits"
TASK_NAMES = ("ioi", "cobj", "mcq", "control")
OUTPUTS = ("tasks", "heads")
LAYOUT = LMTask(EXP, OUTPUTS)
RESULTS, DATA, RUN, ANALYSIS = LAYOUT.results, LAYOUT.data, LAYOUT.run, LAYOUT.analysis
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "heads", "overlaps")}
data_path, run_dir, analysis_path = LAYOUT.data_path, LAYOUT.run_dir, LAYOUT.analysis_path


def vocab_size(cfg: dict) -> int:
    return max(TASKS["ioi"].vocab_size(), TASKS["markov_mixture"].vocab_size(n_states=cfg["control"]["n_states"]))


def max_len(cfg: dict) -> int:
    return max(18, cfg["control"]["seq_len"])


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    n = cfg["n_train"] // 4 if split == "train" else cfg["n_eval"]
    targets = {"targets": cfg["targets"]} if "targets" in cfg else {}  # optional: the default keeps the params
    parts = [{"task": t, "n": n, **targets} for t in ("ioi", "cobj", "mcq")]
    parts[2]["p_standard"] = cfg["p_standard"]
    parts.append({"task": "markov_mixture", "n": n, "n_chains": 1, **cfg["control"],
                  "chain_seed": derive_seed(base_seed, EXP, "chain", seed)})
    return {"seed": LAYOUT.synth_seed(base_seed, split, seed), "parts": parts}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return LAYOUT.train_params(cfg, base_seed, seed, vocab_size=vocab_size(cfg), n_positions=max_len(cfg))


def analysis_params(cfg: dict) -> dict:
    return {"task_vocab": vocab_size(cfg), "n_states": cfg["control"]["n_states"], "rank": cfg["rank"],
            "batch_size": cfg["eval_batch_size"]}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return LAYOUT.manifest(cfg, base_seed)


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), **{k: cfg[k] for k in (
        "importance_threshold", "reuse_overlap", "control_margin", "dla_top_k", "dla_share", "rank",
        "retention_standard", "retention_gap", "competence")}}


def table_params(cfg: dict) -> dict:
    return {"model_note": model_note(cfg),
            "task_note": f"{cfg['n_train']} training sequences (four tasks mixed uniformly), {cfg['n_eval']} held-out "
                         f"prompts per task; control: one Markov chain {cfg['control']}",
            "importance_threshold": cfg["importance_threshold"], "rank": cfg["rank"]}


def check(ctx: Context) -> None:
    cfg = ctx.cfg
    check_heads_divide_width(EXP, cfg["model"])
    require(cfg["control"]["n_states"] <= N_NAMES + 40, f"{keyname(EXP, 'control', 'n_states')} too large")
    require(cfg["n_train"] >= 4, f"{keyname(EXP, 'n_train')} must be at least 4 (four tasks)")
    d_head = cfg["model"]["n_embd"] // cfg["model"]["n_head"]
    require(1 <= cfg["rank"] <= d_head, f"{keyname(EXP, 'rank')} = {cfg['rank']} must lie in 1..d_head = {d_head}")
    require(cfg["dla_top_k"] <= cfg["model"]["n_layer"] * cfg["model"]["n_head"],
            f"{keyname(EXP, 'dla_top_k')} exceeds the number of heads")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    return LAYOUT.steps(
        EXPERIMENT, ctx, synth_params=synth_params, train_params=train_params,
        analysis=Analysis("attnlab.circuits.analyse", analysis_params(cfg)),
        evaluate_params=evaluate_params(cfg, seed0), metrics=METRICS, table_params=table_params(cfg),
        figures={"overlap": "circuit-overlap matrix", "importance": "head importance per task"})


# The spec's settings (shared/papers/circuits.md). Mini: 4 layers × 4 heads, d=64, learned positions; AdamW
# 3e-3, batch 64, 1,500 steps, tasks mixed uniformly; I ≥ 0.1; R1 overlap ≥ 0.5 and ≥ control + 0.25; R2 top 3
# heads ≥ 50% of positive DLA; R3 r = 3, retention ≥ 0.9 standard, random ≤ standard − 0.1; gate 90% per task.
_METRIC = {"importance_threshold": 0.1, "reuse_overlap": 0.5, "control_margin": 0.25, "dla_top_k": 3,
           "dla_share": 0.5, "rank": 3, "retention_standard": 0.9, "retention_gap": 0.1,
           "competence.task_accuracy": 0.9}
REFERENCE = {
    "mini": {**_METRIC, "model.n_layer": 4, "model.n_head": 4, "model.n_embd": 64,
             "model.position_encoding": "learned", "train.lr": 0.003, "train.batch_size": 64, "train.steps": 1500},
    "full": _METRIC,
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("overlap", "importance"), check=check,
                        reference=REFERENCE)
