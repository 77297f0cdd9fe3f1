"""Which random_features jobs a config asks for, and the params each gets (read at parse time)."""

from __future__ import annotations

from attnlab.experiment import (
    Context,
    Experiment,
    Span,
    Step,
    claims_path,
    evaluate_step,
    keyname,
    require,
    table_step,
)
from attnlab.random_features import PAPER
from attnlab.seeds import derive_seed

EXP = "random_features"
RESULTS = f"results/{EXP}"


FIT = RESULTS + "/fits/seed{seed}.parquet"
METRICS = {"metrics": f"{RESULTS}/metrics/fits.parquet"}


def fit_path(seed: int) -> str:
    return FIT.format(seed=seed)


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


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    lo, hi = ctx.cfg["ridge_log10_lambda"]
    require(lo <= hi, f"{keyname(EXP, 'ridge_log10_lambda')} = [{lo}, {hi}]: the lower end exceeds the upper end")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    return [
        Step("fit", "attnlab.random_features.fit", "train", output={"fit": FIT}, mem_mb=mem_mb(cfg),
             runtime=runtime_min(cfg), params=lambda w: fit_params(cfg, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, input={"fits": fit_paths(cfg)}, output=METRICS,
                      params=evaluate_params(cfg), mem_mb=1000, runtime=5),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP)}, params=table_params(cfg),
                   figures={"mse": "MSE vs sample size"}),
    ]


# The spec's settings (shared/papers/random_features.md): "Mini: d=8, N=16, M up to 2048, n up to 10^4
# samples". It states no full-scale settings.
REFERENCE = {"mini": {"d": 8, "n_keys": 16, "heads": Span(hi=2048), "sample_sizes": Span(hi=10000)}}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("mse",), check=check,
                        reference=REFERENCE)
