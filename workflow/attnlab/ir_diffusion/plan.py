"""Which ir_diffusion jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.seeds import derive_seed
from attnlab.vision.plan import consistency_params

EXP = "ir_diffusion"
RESULTS = f"results/{EXP}"
CASES = f"{RESULTS}/data/cases.parquet"


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"subject_counts": cfg["subject_counts"], "cases_per_count": cfg["cases_per_count"],
            "size": vision["image_size"], "seed": derive_seed(base_seed, EXP, "cases")}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return {"variants": cfg["variants"], **consistency_params(EXP, cfg, vision, base_seed, seed)}


def evaluate_params(cfg: dict) -> dict:
    return {"variants": cfg["variants"], "bootstrap": cfg["bootstrap"],
            "bootstrap_seed": 0, "subject_counts": cfg["subject_counts"]}
