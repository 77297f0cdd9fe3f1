"""Paths and params of the image_world checks (read at parse time); the vision track's shared
steps (training set, model, sampling) are planned in attnlab.vision.plan."""

from __future__ import annotations

from attnlab.seeds import derive_seed
from attnlab.vision.plan import sampling_params

EXP = "image_world"
RESULTS = f"results/{EXP}"


def validate_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"n": cfg["n_validate"], "size": vision["image_size"],
            "seed": derive_seed(base_seed, EXP, "parser_validation")}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return {"n": cfg["n_generate"], "size": vision["image_size"], "seed_index": seed,
            "seed": derive_seed(base_seed, EXP, "generate", seed), **sampling_params(vision)}
