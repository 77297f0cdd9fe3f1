"""Which preplan_anchor jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

Per seed: Countdown-lite traces (train and held-out eval, attnlab.tasks.countdown), one causal LM
trained on them with the loss on every trace token (dense supervision), and the rhythm analysis
(attnlab.heads.rhythm_suite) of the held-out traces, teacher-forced. The analysis step loads the
model by path, so it runs unchanged on any local Hugging Face causal LM.
"""

from __future__ import annotations

from attnlab.experiment import Context, Experiment, Step, check_heads_divide_width, keyname, require
from attnlab.lm_task import Analysis, LMTask, model_note
from attnlab.preplan_anchor import PAPER
from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS

EXP = "preplan_anchor"
OUTPUTS = ("heads", "tokens", "samples")
LAYOUT = LMTask(EXP, OUTPUTS)
RESULTS, DATA, RUN, ANALYSIS = LAYOUT.results, LAYOUT.data, LAYOUT.run, LAYOUT.analysis
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "heads", "tokens")}
data_path, run_dir, analysis_path = LAYOUT.data_path, LAYOUT.run_dir, LAYOUT.analysis_path


def vocab_size(cfg: dict) -> int:
    return TASKS["countdown"].vocab_size(**cfg["countdown"])


def max_len(cfg: dict) -> int:
    return 8 + 6 * cfg["countdown"]["max_steps"] + 3


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    part = {"task": "countdown", "n": cfg["n_train"] if split == "train" else cfg["n_eval"], **cfg["countdown"]}
    return {"seed": LAYOUT.synth_seed(base_seed, split, seed), "parts": [part]}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return LAYOUT.train_params(cfg, base_seed, seed, vocab_size=vocab_size(cfg), n_positions=max_len(cfg))


def analysis_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"task_vocab": vocab_size(cfg), "window": cfg["window"], "h_lo": cfg["h_lo"], "h_hi": cfg["h_hi"],
            "head_frac": cfg["head_frac"], "q": cfg["peak_q"], "k": cfg["coupling_k"],
            "n_shuffles": cfg["n_shuffles"], "batch_size": cfg["eval_batch_size"],
            "seed": derive_seed(base_seed, EXP, "shuffle", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return LAYOUT.manifest(cfg, base_seed)


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "enrichment_ratio": cfg["enrichment_ratio"],
            "entropy_ratio": cfg["entropy_ratio"], "coupling_ratio": cfg["coupling_ratio"],
            "competence": cfg["competence"], "window": cfg["window"], "h_lo": cfg["h_lo"], "h_hi": cfg["h_hi"],
            "q": cfg["peak_q"], "k": cfg["coupling_k"], "head_frac": cfg["head_frac"]}


def table_params(cfg: dict) -> dict:
    return {"model_note": model_note(cfg),
            "task_note": f"Countdown-lite {cfg['countdown']}, {cfg['n_train']} training problems, "
                         f"{cfg['n_eval']} held-out traces (teacher-forced)",
            "window": cfg["window"], "h_lo": cfg["h_lo"], "h_hi": cfg["h_hi"], "q": cfg["peak_q"],
            "k": cfg["coupling_k"], "head_frac": cfg["head_frac"]}


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    cfg = ctx.cfg
    check_heads_divide_width(EXP, cfg["model"])
    n_heads = cfg["model"]["n_layer"] * cfg["model"]["n_head"]
    require(2 * max(1, round(cfg["head_frac"] * n_heads)) <= n_heads,
            f"{keyname(EXP, 'head_frac')} = {cfg['head_frac']}: local and global heads overlap with {n_heads} heads")
    require(cfg["h_lo"] <= cfg["h_hi"], f"{keyname(EXP, 'h_lo')} = {cfg['h_lo']} exceeds "
            f"{keyname(EXP, 'h_hi')} = {cfg['h_hi']}")
    c = cfg["countdown"]
    require(1 <= c.get("min_steps", 2) <= c["max_steps"] <= 3,
            f"{keyname(EXP, 'countdown', 'max_steps')}: need 1 <= min_steps <= max_steps <= 3")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    return LAYOUT.steps(
        EXPERIMENT, ctx, synth_params=synth_params, train_params=train_params,
        analysis=Analysis("attnlab.preplan_anchor.analyse", lambda s: analysis_params(cfg, seed0, s)),
        evaluate_params=evaluate_params(cfg, seed0), metrics=METRICS, table_params=table_params(cfg),
        figures={"rhythm": "WAAD and FAI over one solution trace", "heads": "head distances"})


# The spec's settings (shared/papers/preplan_anchor.md). Mini: 4 layers × 4 heads, d=64, rope; AdamW 3e-3,
# batch 32, 800 steps; 10k training problems, 256 held-out traces; W=4, H_lo=3, H_hi=16 (scaled from the
# paper's W=10, H_lo=10, H_hi=50), q=0.4, k=3, 30% local / 30% global heads; P1/P2 ≥ 1.5x, P3 ≥ 1.2x,
# P4 ≥ 1.2. The competence bar is ours (the spec gives none; see config/README.md), fixed before any run.
_METRIC = {"head_frac": 0.3, "peak_q": 0.4, "coupling_k": 3, "enrichment_ratio": 1.5, "entropy_ratio": 1.2,
           "coupling_ratio": 1.2, "competence.result_accuracy": 0.8}
REFERENCE = {
    "mini": {**_METRIC, "window": 4, "h_lo": 3, "h_hi": 16, "n_train": 10000, "n_eval": 256,
             "countdown.max_number": 12, "countdown.max_result": 99, "model.n_layer": 4, "model.n_head": 4,
             "model.n_embd": 64, "model.position_encoding": "rope", "train.lr": 0.003, "train.batch_size": 32,
             "train.steps": 800},
    "full": {**_METRIC, "window": 10, "h_lo": 10, "h_hi": 50},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("rhythm", "heads"), check=check,
                        reference=REFERENCE)
