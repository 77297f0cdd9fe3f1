"""Which mucr jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.seeds import derive_seed
from attnlab.vision.plan import check_real_path as _check, consistency_params

EXP = "mucr"
RESULTS = f"results/{EXP}"
PAIRS = f"{RESULTS}/data/pairs.parquet"


def check_real_path(cfg: dict) -> None:
    _check(EXP, cfg, "a MuCR Parquet file")


def synth_params(cfg: dict, vision: dict, base_seed: int) -> dict:
    return {"n_pairs": cfg["n_pairs"], "real_path": cfg.get("real_path"), "size": vision["image_size"],
            "seed": derive_seed(base_seed, EXP, "pairs")}


def generate_params(cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    return consistency_params(EXP, cfg, vision, base_seed, seed)


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"bootstrap": cfg["bootstrap"], "reasoner_seed": derive_seed(base_seed, EXP, "reasoner")}
