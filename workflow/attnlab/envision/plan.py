"""Which envision jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from pathlib import Path

from attnlab.image_world.plan import sample_dir, sample_dirs, sampling_params
from attnlab.seeds import derive_seed

EXP = "envision"
RESULTS = f"results/{EXP}"
PROMPTS = f"{RESULTS}/data/prompts.json"
TRUTH = f"{RESULTS}/data/truth.json"

__all__ = ["PROMPTS", "TRUTH", "sample_dir", "sample_dirs", "synth_params", "generate_params",
           "check_real_path"]


def check_real_path(cfg: dict) -> None:
    path = cfg.get("real_path")
    if path and not Path(path).is_file():
        raise ValueError(f"experiments.envision.real_path: {path!r} is not a file (an Envision JSON file)")


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"n_prompts": cfg["n_prompts"], "real_path": cfg.get("real_path"), "size": vision["image_size"],
            "seed": derive_seed(base_seed, EXP, "prompts")}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return {"layers": cfg["layers"], "token_dropout": cfg["token_dropout"], "ref_bias": cfg["ref_bias"],
            "seed_index": seed, "seed": derive_seed(base_seed, EXP, "generate", seed),
            **sampling_params(vision)}


def evaluate_params(cfg: dict) -> dict:
    return {"bootstrap": cfg["bootstrap"], "real": bool(cfg.get("real_path"))}
