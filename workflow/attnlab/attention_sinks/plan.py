"""Which attention-sinks jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

Per seed, one causal LM per attention variant (softmax; sigmoid without normalisation), trained on
the Bigram-Backcopy trigger task (generated bigram text with a fixed first token, BOS, in which a
trigger token asks for a copy of the token before it: the task that needs a sink), then analysed
on held-out sequences of the same task, first T tokens.

Each (variant, seed) is trained at two settings: "tuned", the block as configured, and
"pretuning", the block with `before_tuning` applied (the values the block had before it was
retuned after seeing results: see its set_after_results), so the table and the claims show both.
An empty `before_tuning` trains the tuned setting only. The pretuning setting trains the first
`before_tuning_seeds` seeds (default: every seed), a budget choice the table states.
"""

from __future__ import annotations

import copy
from dataclasses import replace

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
    stacked_step,
    table_step,
)
from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS

EXP = "attention_sinks"
RESULTS = f"results/{EXP}"
VARIANTS = {"softmax": {"attention": "softmax", "attention_options": {}},
            "sigmoid": {"attention": "sigmoid", "attention_options": {}}}  # bias −log(T), no normalisation
HEADS_OUTPUTS = ("heads", "samples", "secondary", "maps")


SETTINGS = ("tuned", "pretuning")

DATA = RESULTS + "/data/{setting}/{split}/seed{seed}.parquet"
RUN = RESULTS + "/runs/{setting}/{variant}/seed{seed}"
HEADS = RESULTS + "/heads/{setting}/{variant}/seed{seed}/{name}.parquet"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "heads", "secondary", "maps")}


def data_path(split: str, seed: int, setting: str = "tuned") -> str:
    return DATA.format(setting=setting, split=split, seed=seed)


def run_dir(variant: str, seed: int, setting: str = "tuned") -> str:
    return RUN.format(setting=setting, variant=variant, seed=seed)


def heads_path(variant: str, seed: int, name: str, setting: str = "tuned") -> str:
    return HEADS.format(setting=setting, variant=variant, seed=seed, name=name)


def settings(cfg: dict) -> list[str]:
    """The settings trained: tuned, and pretuning when `before_tuning` names any values."""
    return ["tuned", "pretuning"] if cfg.get("before_tuning") else ["tuned"]


def seeds_at(cfg: dict, setting: str) -> list[int]:
    """The seed indices trained at `setting`: every seed when tuned, the first `before_tuning_seeds`
    (default every seed) before the retune."""
    n = cfg["seeds"] if setting == "tuned" else min(cfg.get("before_tuning_seeds", cfg["seeds"]), cfg["seeds"])
    return list(range(n))


def at_setting(cfg: dict, setting: str) -> dict:
    """The block at `setting`: as configured ("tuned"), or with every dotted key of `before_tuning`
    ("trigger.n_states": 32) set to its value ("pretuning")."""
    if setting == "tuned":
        return cfg
    if setting != "pretuning":
        raise ValueError(f"unknown attention_sinks setting {setting!r} (choose from {SETTINGS})")
    out = copy.deepcopy(cfg)
    for key, value in (cfg.get("before_tuning") or {}).items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node[part]
        node[last] = value
    return out


def vocab_size(cfg: dict) -> int:
    return TASKS["trigger"].vocab_size(**cfg["trigger"])


def synth_params(cfg: dict, base_seed: int, split: str, seed: int, setting: str = "tuned") -> dict:
    """The same seeds at both settings: only the task's settings differ."""
    c = at_setting(cfg, setting)
    part = {"task": "trigger", "n": c["n_train"] if split == "train" else c["n_eval"], **c["trigger"],
            "chain_seed": derive_seed(base_seed, EXP, "chain", seed)}  # the same bigram for train and eval
    return {"seed": derive_seed(base_seed, EXP, split, seed), "parts": [part]}


def train_params(cfg: dict, base_seed: int, variant: str, seed: int, setting: str = "tuned") -> dict:
    c = at_setting(cfg, setting)
    model = {**c["model"], "vocab_size": vocab_size(c), "n_positions": c["trigger"]["seq_len"],
             **VARIANTS[variant]}
    return {"model": model, "train": c["train"], "seed": derive_seed(base_seed, EXP, variant, seed)}


def heads_params(cfg: dict) -> dict:
    return {"T": cfg["eval_len"], "epsilon": cfg["epsilon"], "tau": cfg["tau"], "min_queries": cfg["min_queries"],
            "batch_size": cfg["eval_batch_size"]}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"setting": g, "variant": v, "seed_index": s, "seed": derive_seed(base_seed, EXP, v, s),
             "model_dir": run_dir(v, s, g), **{name: heads_path(v, s, name, g) for name in HEADS_OUTPUTS}}
            for g in settings(cfg) for v in cfg["variants"] for s in seeds_at(cfg, g)]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "epsilon": cfg["epsilon"], "tau": cfg["tau"],
            "ratio": cfg["claim_ratio"], "min_secondary": cfg["min_secondary"],
            "competence": cfg["competence"], "before_tuning": cfg.get("before_tuning") or {}}


def table_params(cfg: dict) -> dict:
    m, t = cfg["model"], cfg["train"]
    pre = seeds_at(cfg, "pretuning")
    return {"epsilon": cfg["epsilon"], "tau": cfg["tau"], "T": cfg["eval_len"], "min_queries": cfg["min_queries"],
            "before_tuning": cfg.get("before_tuning") or {},
            "pretuning_seeds": f"{len(pre)} of {cfg['seeds']} seeds (seed index {', '.join(map(str, pre))})"
                               if len(pre) < cfg["seeds"] else f"every seed ({cfg['seeds']})",
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
    for key in cfg.get("before_tuning") or {}:
        require(key in (cfg.get("set_after_results") or {}), f"{keyname(EXP, 'before_tuning')} names {key}, "
                f"which {keyname(EXP, 'set_after_results')} does not list: before_tuning holds the values of "
                "settings retuned after seeing results")
    try:
        pre = at_setting(cfg, "pretuning")
    except (KeyError, TypeError):
        pre = None
    require(pre is not None, f"{keyname(EXP, 'before_tuning')} = {cfg.get('before_tuning')} names a key the block lacks")
    require(cfg.get("before_tuning_seeds", 1) >= 1, f"{keyname(EXP, 'before_tuning_seeds')} must be at least 1")
    require(cfg["eval_len"] <= pre["trigger"]["seq_len"], f"{keyname(EXP, 'eval_len')} = {cfg['eval_len']} exceeds "
            f"the pretuning {keyname(EXP, 'trigger', 'seq_len')} = {pre['trigger']['seq_len']}")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    man = manifest(cfg, seed0)
    variant = {"variant": "|".join(VARIANTS), "setting": "|".join(SETTINGS)}
    rd = lambda w: run_dir(w["variant"], int(w["seed"]), w["setting"])  # noqa: E731
    return [
        Step("synth", "attnlab.tasks.synth", "synth", output={"data": DATA},
             constraints={"split": "train|eval", "setting": "|".join(SETTINGS)},
             params=lambda w: synth_params(cfg, seed0, w["split"], int(w["seed"]), w["setting"])),
        # one stack per (setting, variant): the tuned stacks hold every seed, the pretuning ones the
        # first `before_tuning_seeds`
        *[replace(lm_train_step(RUN, seeds_at(cfg, g), data=lambda w: data_path("train", int(w["seed"]), w["setting"]),
                                constraints={**variant, "setting": g}, stack_over=ctx.stacked("variant", cfg["variants"]),
                                params=lambda w: train_params(cfg, seed0, w["variant"], int(w["seed"]), w["setting"])),
                  # the LM track's longest stacks (~330 s each, bench/README "LM track ... one seed"):
                  # start the tuned ones first
                  name="train" if g == "tuned" else f"train_{g}", priority=20 if g == "tuned" else None)
          for g in settings(cfg)],
        # every variant and seed of a setting in one job (one process start, not one per model)
        *[replace(stacked_step(
            Step("heads", "attnlab.heads.sink_step", "analysis", mem_mb=3000, runtime=5,
                 constraints={**variant, "setting": g},
                 input=lambda w: {"model": f"{rd(w)}/config.json", "weights": f"{rd(w)}/model.safetensors",
                                  "data": data_path("eval", int(w["seed"]), w["setting"])},
                 output={n: HEADS.replace("{name}", n) for n in HEADS_OUTPUTS}, params=heads_params(cfg),
                 mechanisms=lambda w: (VARIANTS[w["variant"]]["attention"],)),
            {"variant": cfg["variants"], "seed": seeds_at(cfg, g)}), name="heads" if g == "tuned" else f"heads_{g}")
          for g in settings(cfg)],
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
# The competence bar is ours (the spec gives none), fixed before any run of this gate: the copy after
# a trigger is deterministic (an oracle scores 1), and a model that has not learnt it has no use
# for a sink, so at least 90% of copy targets right on held-out sequences, for both variants.
_SINK_METRIC = {"variants": Contains("softmax", "sigmoid"), "epsilon": 0.3, "eval_len": 64, "claim_ratio": 5,
                "competence.copy_accuracy": 0.9}
REFERENCE = {"mini": {**_SINK_METRIC, "model.n_layer": 6, "model.n_embd": 128}, "full": _SINK_METRIC}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("sink_rate", "maps"), check=check,
                        reference=REFERENCE)
