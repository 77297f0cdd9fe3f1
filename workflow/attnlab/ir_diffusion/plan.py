"""Which ir_diffusion jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.image_world.plan import sample_dir, sample_dirs, sampling_params
from attnlab.seeds import derive_seed

EXP = "ir_diffusion"
RESULTS = f"results/{EXP}"
CASES = f"{RESULTS}/data/cases.parquet"

__all__ = ["CASES", "sample_dir", "sample_dirs", "synth_params", "generate_params"]


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"subject_counts": cfg["subject_counts"], "cases_per_count": cfg["cases_per_count"],
            "size": vision["image_size"], "seed": derive_seed(base_seed, EXP, "cases")}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return {"variants": cfg["variants"], "layers": cfg["layers"], "token_dropout": cfg["token_dropout"],
            "ref_bias": cfg["ref_bias"], "seed_index": seed,
            "seed": derive_seed(base_seed, EXP, "generate", seed), **sampling_params(vision)}


def evaluate_params(cfg: dict) -> dict:
    return {"variants": cfg["variants"], "bootstrap": cfg["bootstrap"],
            "bootstrap_seed": 0, "subject_counts": cfg["subject_counts"]}
