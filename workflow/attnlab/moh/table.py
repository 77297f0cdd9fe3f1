"""The MoH paper table (our numbers beside the paper's) and the per-head load figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.io import read_parquet
from attnlab.tables import mean_sd, mean_sd_columns, write_paper_table

# Table 5 of the paper (LLM-S, 100B tokens; average accuracy over 14 benchmarks, higher is better)
PAPER_VALUES = {"mha": "LLM-S: 43.9 (100% heads)", "moh75": "LLM-S: 44.6 (75% heads)",
                "moh50": "LLM-S: 45.4 (50% heads)"}


def summarise(metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    display, numeric = [], []
    for (task, variant), g in metrics.groupby(["task", "variant"], sort=False):
        g = g.sort_values("seed_index")
        mha = metrics[(metrics.task == task) & (metrics.variant == "mha")].set_index("seed_index").val_loss
        rel = [(r.val_loss - mha[r.seed_index]) / mha[r.seed_index] for r in g.itertuples() if r.seed_index in mha]
        display.append({
            "task": task, "variant": variant, "target active": f"{g.target_fraction.iloc[0]:.0%}",
            "realised active": mean_sd(g.active_fraction, 3),
            "val loss": mean_sd(g.val_loss, 4),
            "Δ loss vs MHA": "—" if variant == "mha" else mean_sd([100 * r for r in rel], 2) + " %",
            "val acc": mean_sd(g.val_acc, 3),
            "oracle loss": mean_sd(g.oracle_nll, 4) if "oracle_nll" in g and g.oracle_nll.notna().any() else "—",
            "load entropy": "—" if g.load_entropy.isna().all() else mean_sd(g.load_entropy, 3),
            "paper": PAPER_VALUES.get(variant, "—"),
        })
        numeric.append({"task": task, "variant": variant, "target_fraction": g.target_fraction.iloc[0],
                        "n_seeds": len(g),
                        **mean_sd_columns(g, ("val_loss", "val_acc", "active_fraction", "load_entropy"))})
    return pd.DataFrame(display), pd.DataFrame(numeric)


def load_figure(loads: pd.DataFrame, task: str, path: str) -> None:
    """Per-head load f_i (mean over seeds) for every MoH variant: one heat map per variant."""
    part = loads[loads.task == task]
    variants = sorted(part.variant.unique()) or ["(no MoH run)"]
    fig, axes = subplots(1, len(variants), figsize=(4.2 * len(variants), 3.2), squeeze=False)
    for ax, v in zip(axes[0], variants):
        g = part[part.variant == v].groupby(["layer", "head"]).load.mean().unstack("head")
        if g.empty:
            ax.set_axis_off()
            continue
        im = ax.imshow(g.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        shared = int(part.loc[(part.variant == v) & part["shared"], "head"].nunique())
        ax.axvline(shared - 0.5, color="white", lw=1.5, ls="--")
        ax.set(xlabel="head (left of dashed line: shared)", ylabel="layer", title=f"{v}: per-head load f_i",
               xticks=np.arange(g.shape[1]), yticks=np.arange(g.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"MoH: fraction of tokens routed to each head ({task}, mean over seeds)", y=1.06)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    metrics = read_parquet(args.input("metrics"), ["task", "variant", "seed_index", "target_fraction", "val_loss",
                                                   "val_acc", "active_fraction", "load_entropy"])
    loads = read_parquet(args.input("load"), ["task", "variant", "layer", "head", "shared", "load"])
    display, numeric = summarise(metrics)
    notes = [
        *[f"Task {t}" for t in p["task_notes"]],
        "Substitute: synthetic tasks stand in for the paper's 100B-token pre-training; the paper's "
        "column is average benchmark accuracy (higher is better), ours is validation loss (lower is "
        "better) — they are not comparable numbers, only the direction of the claim is.",
        "Dense emulation: every head is computed and unselected heads are gated to zero (no compute saving).",
        "Load entropy: normalised entropy of the routed heads' load (1 = balanced). Oracle loss: the "
        "cross-entropy of a predictor that knows which chain generated each sequence (a floor).",
    ]
    write_paper_table(args, display, numeric=numeric, scale=p["model_note"], notes=notes,
                      title="MoH — Mixture-of-Head attention vs multi-head attention (arXiv 2410.11842)")
    load_figure(loads, p["tasks"][0], args.output("load_fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
