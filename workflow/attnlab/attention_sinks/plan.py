"""Which attention-sinks jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

Per seed, one causal LM per attention variant (softmax; sigmoid without normalisation), trained on
the Bigram-Backcopy trigger task (generated bigram text with a fixed first token, BOS, in which a
trigger token asks for a copy of the token before it: the task that needs a sink), then analysed
on held-out sequences of the same task, first T tokens.
"""

from __future__ import annotations

from attnlab.attention_sinks import PAPER
from attnlab.experiment import (
    Contains,
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
from attnlab.tasks import TASKS

EXP = "attention_sinks"
RESULTS = f"results/{EXP}"
VARIANTS = {"softmax": {"attention": "softmax", "attention_options": {}},
            "sigmoid": {"attention": "sigmoid", "attention_options": {}}}  # bias −log(T), no normalisation
HEADS_OUTPUTS = ("heads", "samples", "secondary", "maps")


DATA = RESULTS + "/data/{split}/seed{seed}.parquet"
RUN = RESULTS + "/runs/{variant}/seed{seed}"
HEADS = RESULTS + "/heads/{variant}/seed{seed}/{name}.parquet"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "heads", "secondary", "maps")}


def data_path(split: str, seed: int) -> str:
    return DATA.format(split=split, seed=seed)


def run_dir(variant: str, seed: int) -> str:
    return RUN.format(variant=variant, seed=seed)


def heads_path(variant: str, seed: int, name: str) -> str:
    return HEADS.format(variant=variant, seed=seed, name=name)


def vocab_size(cfg: dict) -> int:
    return TASKS["trigger"].vocab_size(**cfg["trigger"])


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    part = {"task": "trigger", "n": cfg["n_train"] if split == "train" else cfg["n_eval"], **cfg["trigger"],
            "chain_seed": derive_seed(base_seed, EXP, "chain", seed)}  # the same bigram for train and eval
    return {"seed": derive_seed(base_seed, EXP, split, seed), "parts": [part]}


def train_params(cfg: dict, base_seed: int, variant: str, seed: int) -> dict:
    model = {**cfg["model"], "vocab_size": vocab_size(cfg), "n_positions": cfg["trigger"]["seq_len"],
             **VARIANTS[variant]}
    return {"model": model, "train": cfg["train"], "seed": derive_seed(base_seed, EXP, variant, seed)}


def heads_params(cfg: dict) -> dict:
    return {"T": cfg["eval_len"], "epsilon": cfg["epsilon"], "tau": cfg["tau"], "min_queries": cfg["min_queries"],
            "batch_size": cfg["eval_batch_size"]}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"variant": v, "seed_index": s, "seed": derive_seed(base_seed, EXP, v, s), "model_dir": run_dir(v, s),
             **{name: heads_path(v, s, name) for name in HEADS_OUTPUTS}}
            for v in cfg["variants"] for s in range(cfg["seeds"])]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "epsilon": cfg["epsilon"], "tau": cfg["tau"],
            "ratio": cfg["claim_ratio"], "min_secondary": cfg["min_secondary"]}


def table_params(cfg: dict) -> dict:
    m, t = cfg["model"], cfg["train"]
    return {"epsilon": cfg["epsilon"], "tau": cfg["tau"], "T": cfg["eval_len"], "min_queries": cfg["min_queries"],
            "model_note": f"{m['n_layer']} layers × {m['n_head']} heads, d={m['n_embd']}, "
                          f"{t['steps']} steps × batch {t['batch_size']} (weight decay {t.get('weight_decay', 0.1)})",
            "task_note": f"Bigram-Backcopy trigger task {cfg['trigger']}, {cfg['n_eval']} eval sequences, "
                         f"first T={cfg['eval_len']} tokens"}


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    cfg, m = ctx.cfg, ctx.cfg["model"]
    check_heads_divide_width(EXP, m)
    require(cfg["eval_len"] <= cfg["trigger"]["seq_len"], f"{keyname(EXP, 'eval_len')} = {cfg['eval_len']} exceeds "
            f"{keyname(EXP, 'trigger', 'seq_len')} = {cfg['trigger']['seq_len']}")
    require("softmax" in cfg["variants"], f"{keyname(EXP, 'variants')} = {cfg['variants']} lacks 'softmax', "
            "the attention every claim compares against")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    man = manifest(cfg, seed0)
    variant = {"variant": "|".join(VARIANTS)}
    return [
        Step("synth", "attnlab.tasks.synth", "synth", output={"data": DATA}, constraints={"split": "train|eval"},
             params=lambda w: synth_params(cfg, seed0, w["split"], int(w["seed"]))),
        lm_train_step(RUN, ctx.seeds, data=lambda w: data_path("train", int(w["seed"])), constraints=variant,
                      params=lambda w: train_params(cfg, seed0, w["variant"], int(w["seed"]))),
        Step("heads", "attnlab.heads.sink_step", "analysis", mem_mb=3000, runtime=15, constraints=variant,
             input=lambda w: {"model": f"{run_dir(w['variant'], int(w['seed']))}/config.json",
                              "weights": f"{run_dir(w['variant'], int(w['seed']))}/model.safetensors",
                              "data": data_path("eval", int(w["seed"]))},
             output={n: HEADS.replace("{name}", n) for n in HEADS_OUTPUTS}, params=heads_params(cfg),
             mechanisms=lambda w: (VARIANTS[w["variant"]]["attention"],)),
        evaluate_step(EXPERIMENT, ctx, output=METRICS, params=evaluate_params(cfg, seed0),
                      mechanisms=tuple(VARIANTS[v]["attention"] for v in cfg["variants"]),
                      input={"heads": [m[n] for m in man for n in HEADS_OUTPUTS],
                             "models": [f for m in man for f in run_files(m["model_dir"])]}),
        table_step(EXPERIMENT, ctx, input={"metrics": METRICS["metrics"], "maps": METRICS["maps"],
                                           "claims": claims_path(EXP)}, params=table_params(cfg),
                   figures={"sink_rate": "sink rate per layer", "maps": "sink-head attention"}),
    ]


# The spec's settings (shared/papers/attention_sinks.md): "softmax attention vs sigmoid attention without
# normalisation"; "epsilon = 0.3, T = 64"; "PASS if Sink1(softmax) >= 5x Sink1(sigmoid)"; "Mini: 6 layers,
# d=128".
_SINK_METRIC = {"variants": Contains("softmax", "sigmoid"), "epsilon": 0.3, "eval_len": 64, "claim_ratio": 5}
REFERENCE = {"mini": {**_SINK_METRIC, "model.n_layer": 6, "model.n_embd": 128}, "full": _SINK_METRIC}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("sink_rate", "maps"), check=check,
                        reference=REFERENCE)
