"""Which random_features jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.seeds import derive_seed

EXP = "random_features"
RESULTS = f"results/{EXP}"


def fit_path(seed: int) -> str:
    return f"{RESULTS}/fits/seed{seed}.parquet"


def fit_paths(cfg: dict) -> list[str]:
    return [fit_path(s) for s in range(cfg["seeds"])]


def lams(cfg: dict) -> list[float]:
    lo, hi = cfg["ridge_log10_lambda"]
    return [10.0**k for k in range(lo, hi + 1)]


def fit_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"seed_index": seed, "seed": derive_seed(base_seed, EXP, "fit", seed), "d": cfg["d"],
            "n_keys": cfg["n_keys"], "heads": cfg["heads"], "qk_mean": cfg["qk_mean"],
            "sample_sizes": cfg["sample_sizes"], "n_val": cfg["n_val"], "n_test": cfg["n_test"],
            "lams": lams(cfg), "targets": cfg["targets"]}


def evaluate_params(cfg: dict) -> dict:
    return {"targets": cfg["targets"]}


def table_params(cfg: dict) -> dict:
    return {k: cfg[k] for k in ("d", "n_keys", "heads", "qk_mean", "n_val", "n_test")}


def mem_mb(cfg: dict) -> int:
    """Memory to request for one seed: one model's features on every split plus the Gram matrix."""
    p = cfg["heads"] * cfg["d"]
    rows = max(cfg["sample_sizes"]) + cfg["n_val"] + cfg["n_test"]
    inputs = rows * (cfg["n_keys"] + 1) * cfg["d"]
    return int(1000 + 3 * 8 * (rows * p + min(max(cfg["sample_sizes"]), p) ** 2 + inputs) / 2**20)


def runtime_min(cfg: dict) -> int:
    """Minutes to request for one seed: ~10 s at mini scale (P = 1024 features, n ≤ 10⁴), cost
    ∝ n·P² + P³ per size; 3× margin."""
    p, n = cfg["heads"] * cfg["d"], max(cfg["sample_sizes"])
    scale = (n * p**2 + p**3) / (1e4 * 1024**2 + 1024**3)
    return max(15, int(3 * 10 * scale * len(cfg["ridge_log10_lambda"]) / 60) + 1)
