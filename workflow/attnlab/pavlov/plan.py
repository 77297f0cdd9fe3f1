"""Which pavlov jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.seeds import derive_seed

EXP = "pavlov"
RESULTS = f"results/{EXP}"


def capacity_path(seed: int) -> str:
    return f"{RESULTS}/capacity/seed{seed}.parquet"


def capacity_paths(cfg: dict) -> list[str]:
    return [capacity_path(s) for s in range(cfg["seeds"])]


def measure_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"seed_index": seed, "seed": derive_seed(base_seed, EXP, "capacity", seed),
            "d_ks": cfg["d_ks"], "d_v": cfg["d_v"], "trials": cfg["trials"],
            "min_pairs": cfg["min_pairs"], "n_max_factor": cfg["n_max_factor"]}


def evaluate_params(cfg: dict) -> dict:
    return {"d_ks": cfg["d_ks"]}


def table_params(cfg: dict) -> dict:
    return {"d_v": cfg["d_v"], "trials": cfg["trials"], "min_pairs": cfg["min_pairs"]}


def runtime_min(cfg: dict) -> int:
    """Minutes to request for one seed: the all-pairs search costs ~ trials · d_k³ (N ≈ d_k), about
    10 s per seed up to d_k = 256 with 100 trials on one thread; 3× margin."""
    scale = (max(cfg["d_ks"]) / 256) ** 3 * cfg["trials"] / 100
    return max(15, int(3 * 10 * scale / 60) + 1)
