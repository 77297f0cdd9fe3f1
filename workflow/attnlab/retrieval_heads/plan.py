"""Which retrieval-heads jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

One causal LM (standard softmax attention) per seed, trained on needle-in-a-haystack sequences
("KEY k₁..k_a VAL v₁..v_b" at a random depth of a random-token haystack, queried at the end), then
analysed on a held-out needle suite over context lengths × needle depths.
"""

from __future__ import annotations

from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS

EXP = "retrieval_heads"
RESULTS = f"results/{EXP}"
HEADS_OUTPUTS = ("heads", "ablation", "maps", "samples")


def data_path(split: str, seed: int) -> str:
    return f"{RESULTS}/data/{split}/seed{seed}.parquet"


def run_dir(seed: int) -> str:
    return f"{RESULTS}/runs/seed{seed}"


def heads_path(seed: int, name: str) -> str:
    return f"{RESULTS}/heads/seed{seed}/{name}.parquet"


def vocab_size(cfg: dict) -> int:
    return TASKS["needle"].vocab_size(**cfg["needle"])


def max_length(cfg: dict) -> int:
    return max(cfg["train_lengths"] + cfg["test_lengths"])


def train_depths(cfg: dict) -> list[float]:
    n = cfg["train_depths"]
    return [i / (n - 1) for i in range(n)] if n > 1 else [0.5]


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    if split == "train":
        part = {"n": cfg["n_train_per"], "lengths": cfg["train_lengths"], "depths": train_depths(cfg)}
    else:
        part = {"n": cfg["n_test_per"], "lengths": cfg["test_lengths"], "depths": cfg["test_depths"]}
    return {"seed": derive_seed(base_seed, EXP, split, seed), "parts": [{"task": "needle", **part, **cfg["needle"]}]}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    model = {**cfg["model"], "vocab_size": vocab_size(cfg), "n_positions": max_length(cfg),
             "attention": "softmax", "attention_options": {}}
    return {"model": model, "train": cfg["train"], "seed": derive_seed(base_seed, EXP, "train", seed)}


def heads_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"key_len": cfg["needle"]["key_len"], "value_len": cfg["needle"]["value_len"],
            "ks": sorted(set(cfg["ablation_ks"]) | {cfg["claim_k"]}), "n_draws": cfg["random_draws"],
            "seed": derive_seed(base_seed, EXP, "ablation", seed), "batch_size": cfg["eval_batch_size"]}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"seed_index": s, "seed": derive_seed(base_seed, EXP, "train", s), "model_dir": run_dir(s),
             **{name: heads_path(s, name) for name in HEADS_OUTPUTS}}
            for s in range(cfg["seeds"])]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "claim_k": cfg["claim_k"], "model": cfg["model"]}


def table_params(cfg: dict) -> dict:
    m, t, n = cfg["model"], cfg["train"], cfg["needle"]
    return {"claim_k": cfg["claim_k"],
            "model_note": f"{m['n_layer']} layers × {m['n_head']} heads, d={m['n_embd']}, softmax attention, "
                          f"{t['steps']} steps × batch {t['batch_size']}",
            "task_note": f"needles KEY k(×{n['key_len']}) VAL v(×{n['value_len']}) in random-token haystacks "
                         + ("drawn from the key and value tokens; " if n.get("shared_vocab") else
                            f"of a separate {n['n_filler']}-token filler vocabulary (so a head can find the needle by "
                            "token type alone, a shortcut natural text does not offer); ")
                         + f"train lengths {cfg['train_lengths']}, test lengths {cfg['test_lengths']} × depths "
                         f"{cfg['test_depths']}, {cfg['n_test_per']} test needles per cell"}
