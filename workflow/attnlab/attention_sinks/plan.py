"""Which attention-sinks jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

Per seed, one causal LM per attention variant (softmax; sigmoid without normalisation), trained on
the Bigram-Backcopy trigger task (generated bigram text with a fixed first token, BOS, in which a
trigger token asks for a copy of the token before it: the task that needs a sink), then analysed
on held-out sequences of the same task, first T tokens.
"""

from __future__ import annotations

from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS

EXP = "attention_sinks"
RESULTS = f"results/{EXP}"
VARIANTS = {"softmax": {"attention": "softmax", "attention_options": {}},
            "sigmoid": {"attention": "sigmoid", "attention_options": {}}}  # bias −log(T), no normalisation
HEADS_OUTPUTS = ("heads", "samples", "secondary", "maps")


def data_path(split: str, seed: int) -> str:
    return f"{RESULTS}/data/{split}/seed{seed}.parquet"


def run_dir(variant: str, seed: int) -> str:
    return f"{RESULTS}/runs/{variant}/seed{seed}"


def heads_path(variant: str, seed: int, name: str) -> str:
    return f"{RESULTS}/heads/{variant}/seed{seed}/{name}.parquet"


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
