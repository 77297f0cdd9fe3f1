"""The icl_regression paper table (ours beside the paper's values) and its figures: test MSE
against prompt length, and per-head KQ / OV heatmaps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.io import read_parquet
from attnlab.tables import mean_sd, write_paper_table

# Reference MSEs at L=40 from the spec, each labelled with what it is: none is a number the paper
# reports for a trained model at our settings.
PAPER_MSE = {"softmax-h1": "≈ 0.40 (single head; authors' repository run, per the spec)",
             "softmax-h2": "0.243 (analytic: the DGD estimator at the paper's fitted (ω, μ) = (0.13, 3.45))",
             "ridge": "0.115 (ridge λ = σ²d on the same task: an estimator, no training)"}
LABELS = {"linear-length": "linear attention, 1/L", "linear-fixed": "linear attention, fixed 1/L_train",
          "ridge": "ridge, λ = σ²d (Bayes)", "zero": "predict 0 (gate baseline)"}
COLORS = {"softmax-h1": "tab:blue", "softmax-h2": "tab:orange", "softmax-h4": "tab:green",
          "softmax-h8": "tab:olive", "linear-length": "tab:purple", "linear-fixed": "tab:red",
          "ridge": "black"}


def label(model: str) -> str:
    return LABELS.get(model, model.replace("softmax-h", "softmax, H="))


def summarise(mse: pd.DataFrame, runs: pd.DataFrame, lengths: list[int],
              train_length: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    display, numeric = [], []
    for (d, model), g in mse.groupby(["d", "model"], sort=False):
        if model == "zero" and g.empty:
            continue
        row = {"d": int(d), "model": label(model)}
        num = {"d": int(d), "model": model, "n_seeds": g["seed_index"].nunique()}
        for L in lengths:
            v = g[g["length"] == L]["mse"]
            row[f"MSE L={L}"] = mean_sd(v, 3)
            num[f"mse_L{L}_mean"], num[f"mse_L{L}_sd"] = v.mean(), v.std(ddof=1)
        row[f"reference MSE L={train_length} (source)"] = PAPER_MSE.get(model, "—") if d == 5 else "—"
        r = runs[(runs["d"] == d) & (runs["run"] == model)]
        for col, name, digits in [("max_offdiag_ratio", "off-diag (max head)", 3),
                                  ("max_homogeneity", "homogeneity (max head)", 3),
                                  ("min_last_entry_ratio", "last-entry (min head)", 3),
                                  ("zero_sum", "zero-sum", 3), ("dgd_rel_diff", "DGD diff", 3)]:
            row[name] = mean_sd(r[col], digits) if not r.empty else "—"
            num[col] = r[col].mean() if not r.empty else np.nan
        mh = r["multi_head_solution"].dropna() if not r.empty else pd.Series(dtype=object)
        row["multi-head solution (seeds)"] = f"{int(mh.astype(bool).sum())}/{len(mh)}" if len(mh) else "—"
        num["multi_head_fraction"] = mh.astype(bool).mean() if len(mh) else np.nan
        display.append(row)
        numeric.append(num)
    return pd.DataFrame(display), pd.DataFrame(numeric)


def mse_figure(mse: pd.DataFrame, d: int, path: str) -> None:
    fig, ax = subplots(figsize=(6, 4))
    for model, g in mse[mse["d"] == d].groupby("model", sort=False):
        color = COLORS.get(model, "gray")
        ax.scatter(g["length"], g["mse"], color=color, alpha=0.3, s=12)
        mean = g.groupby("length")["mse"].mean()
        ax.plot(mean.index, mean.values, "o-" if model != "ridge" else "s--", color=color,
                label=label(model))
    lengths = sorted(mse["length"].unique())
    ax.set(xscale="log", yscale="log", xlabel="test prompt length L", ylabel="test MSE",
           title=f"In-context regression (d={d}): test MSE against prompt length (dots: seeds)")
    ax.set_xticks(lengths, [str(L) for L in lengths])
    ax.legend(frameon=False, fontsize=8)
    save(fig, path)


def heads_figure(heads: pd.DataFrame, d: int, run: str, path: str) -> None:
    h = heads[(heads["d"] == d) & (heads["run"] == run)].sort_values(["seed_index", "head"])
    seeds, n_heads = sorted(h["seed_index"].unique()), int(h["head"].max()) + 1
    D = d + 1
    fig, axes = subplots(len(seeds), 2 * n_heads, figsize=(2.6 * 2 * n_heads, 2.5 * len(seeds)),
                         squeeze=False, gridspec_kw={"width_ratios": [D, 1.6] * n_heads})
    names = [f"x{i + 1}" for i in range(d)] + ["y"]
    for i, s in enumerate(seeds):
        for _, row in h[h["seed_index"] == s].iterrows():
            kq = np.asarray(row["kq"]).reshape(D, D)
            ov = np.asarray(row["ov"]).reshape(D, 1)
            for j, (mat, title) in enumerate([(kq, f"KQ, head {row['head'] + 1}: ω={row['omega']:.2f}"),
                                              (ov, f"OV: μ={row['mu']:.2f}")]):
                ax = axes[i, 2 * int(row["head"]) + j]
                lim = np.abs(mat).max() or 1.0
                im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_title(f"seed {s}: {title}" if j == 0 else title, fontsize=7)
                ax.set_yticks(range(D), names, fontsize=6)
                ax.set_xticks(range(D) if j == 0 else [], names if j == 0 else [], fontsize=6)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
    fig.suptitle(f"{label(run)} (d={d}): per-head KQ_h = W_Kᵀ W_Q/√(d+1) and OV_h = O_h V_h "
                 "(rows: key/value token entries; KQ columns: query entries)", fontsize=9)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    mse = read_parquet(args.input("mse"), ["d", "model", "seed_index", "length", "mse"])
    runs = read_parquet(args.input("runs"), ["d", "run", "seed_index", "max_offdiag_ratio", "max_homogeneity",
                                             "min_last_entry_ratio", "zero_sum", "dgd_rel_diff",
                                             "multi_head_solution"])
    heads = read_parquet(args.input("heads"), ["d", "run", "seed_index", "head", "kq", "ov", "omega", "mu"])
    L = p["train_length"]
    display, numeric = summarise(mse, runs, p["test_lengths"], L)
    notes = [
        "Pattern metrics on KQ_h[:d,:d] and OV_h (worst head per run); DGD diff = ‖ŷ − ŷ_DGD‖²/‖ŷ‖² "
        "(squared ratio, the unit of the spec's 0.2%) at L_train; multi-head solution = zero-sum < 0.05 "
        "(spec); the paper trains 500k steps.",
        f"Reference MSE column (d=5, L={L}, σ²=0.1, from the spec), by source: H=1 a run of the authors' "
        "repository; H=2 analytic (the DGD estimator at the paper's fitted (ω, μ)); ridge an estimator "
        "computed on the task (our ridge row is the same estimator on our prompts).",
        f"Competence gate of every claim on trained models: the share of the gap between predicting 0 and "
        f"ridge closed at L={L}, at least {p['gap_bar']:g} (the predict-0 row is the gap's baseline).",
        "config/full.yaml adds d ∈ {10, 20} and H=8; anisotropic covariates and multi-task "
        "variants are not implemented.",
    ]
    write_paper_table(args, display, numeric=numeric, notes=notes,
                      scale=f"L_train={L}, σ²={p['noise_var']}, Adam lr {p['lr']} with cosine decay, "
                            f"{p['steps']} steps of batch {p['batch_size']}; test MSE on {p['n_test']} fresh "
                            "prompts per length (noisy y_q, floor σ²)",
                      title="icl_regression — in-context linear regression with multi-head softmax "
                            "attention (arXiv 2503.12734)")
    mse_figure(mse, p["primary_d"], args.output("mse_fig"))
    heads_figure(heads, p["primary_d"], "softmax-h2", args.output("heads_fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
