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
