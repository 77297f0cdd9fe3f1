"""Which envision jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.seeds import derive_seed
from attnlab.vision.plan import check_real_path as _check, consistency_params

EXP = "envision"
RESULTS = f"results/{EXP}"
PROMPTS = f"{RESULTS}/data/prompts.json"
TRUTH = f"{RESULTS}/data/truth.json"


def check_real_path(cfg: dict) -> None:
    _check(EXP, cfg, "an Envision JSON file")


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"n_prompts": cfg["n_prompts"], "real_path": cfg.get("real_path"), "size": vision["image_size"],
            "seed": derive_seed(base_seed, EXP, "prompts")}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return consistency_params(EXP, cfg, vision, base_seed, seed)


def evaluate_params(cfg: dict) -> dict:
    return {"bootstrap": cfg["bootstrap"]}
