"""The circuits table (our circuit statistics beside the papers') and its figures: the circuit-overlap
matrix between the four tasks (mean over seeds) and each task's head importance (seed 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.io import read_parquet
from attnlab.tables import mean_sd, mean_sd_columns, write_paper_table

METRICS = ("acc_ioi", "acc_cobj", "acc_mcq", "acc_mcq_standard", "acc_mcq_random", "size_ioi", "size_cobj",
           "size_mcq", "size_control", "overlap_ioi_cobj", "jaccard_ioi_cobj", "overlap_ioi_control",
           "overlap_ioi_mcq", "dla_top_share", "retention_standard", "retention_random")
TASKS = ("ioi", "cobj", "mcq", "control")
NAMES = {"ioi": "IOI-lite", "cobj": "CO-lite", "mcq": "MCQ-lite", "control": "control"}


def summarise(m: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        ("answer accuracy IOI-lite / CO-lite / MCQ-lite (competence)",
         f"{mean_sd(m.acc_ioi)} / {mean_sd(m.acc_cobj)} / {mean_sd(m.acc_mcq)}", "—"),
        ("circuit size (heads) IOI / CO / MCQ / control",
         " / ".join(mean_sd(m[f"size_{t}"], 1) for t in TASKS), "—"),
        ("R1 overlap(C_IOI, C_CO)", mean_sd(m.overlap_ioi_cobj, 2), "≈ 0.78 (GPT-2 Medium)"),
        ("R1 Jaccard(C_IOI, C_CO)", mean_sd(m.jaccard_ioi_cobj, 2), "—"),
        ("R1 overlap(C_IOI, C_control)", mean_sd(m.overlap_ioi_control, 2), "—"),
        ("overlap(C_IOI, C_MCQ)", mean_sd(m.overlap_ioi_mcq, 2), "—"),
        ("R2 top-3 share of positive DLA (MCQ-lite)", mean_sd(m.dla_top_share, 2), "a small set of output nodes"),
        ("R3 retention, standard labels (rank-r q, k)", mean_sd(m.retention_standard, 2), "no loss"),
        ("R3 retention, random labels", mean_sd(m.retention_random, 2), "partial"),
        ("Colored Objects repair by 4 heads", "NOT RUN", "49.6% → 93.7%"),
    ]
    display = pd.DataFrame(rows, columns=["quantity", "ours (mean ± sd over seeds)", "paper"])
    numeric = pd.DataFrame([{"n_seeds": len(m), **mean_sd_columns(m, METRICS)}])
    return display, numeric


def overlap_figure(ov: pd.DataFrame, path: str) -> None:
    M = ov.groupby(["a", "b"]).overlap.mean().unstack().reindex(index=TASKS, columns=TASKS)
    fig, ax = subplots(figsize=(4.2, 3.6))
    im = ax.imshow(M.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(4), [NAMES[t] for t in TASKS], rotation=30)
    ax.set_yticks(range(4), [NAMES[t] for t in TASKS])
    for i in range(4):
        for j in range(4):
            v = M.iloc[i, j]
            ax.text(j, i, "—" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, ax=ax, label="|A ∩ B| / min(|A|, |B|)")
    ax.set_title("Circuit overlap (mean over seeds)", fontsize=9)
    save(fig, path)


def importance_figure(heads: pd.DataFrame, path: str) -> None:
    h = heads[heads.seed_index == heads.seed_index.min()]
    L, H = int(h.layer.max()) + 1, int(h["head"].max()) + 1
    fig, axes = subplots(1, 4, figsize=(11, 2.8), squeeze=False)
    for ax, t in zip(axes[0], TASKS):
        g = h[h.task == t]
        A = np.full((L, H), np.nan)
        A[g.layer.to_numpy(), g["head"].to_numpy()] = g.importance
        im = ax.imshow(A, vmin=-0.5, vmax=1, cmap="coolwarm")
        ax.set(title=NAMES[t], xlabel="head", ylabel="layer", xticks=range(H), yticks=range(L))
    fig.colorbar(im, ax=axes[0].tolist(), label="importance (mean ablation)")
    fig.suptitle("Head importance (LD_clean − LD_ablated) / LD_clean, seed 0", y=1.02)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    metrics = read_parquet(args.input("metrics"), ["seed_index", "top_head", *METRICS])
    display, numeric = summarise(metrics)
    notes = [
        f"Task: {p['task_note']}.",
        f"Circuits: heads whose mean ablation (hook_z replaced by its mean over the task's prompts) lowers the "
        f"task's logit difference by ≥ {p['importance_threshold']:g} of its clean value; the control's score is "
        "the mean log-probability of the true next state above a uniform guess. Overlap = |A ∩ B| / min(|A|, |B|).",
        "DLA: each head's write at the answer query through the final norm (scale frozen) and the unembedding, "
        "projected on W_U[answer] − W_U[strongest foil]. Low-rank test: the top DLA head's query (answer position) "
        f"and keys (option labels) replaced by rank-{p['rank']} PCA projections fitted on standard-label prompts.",
        "Substitute: token-level IOI, Colored Objects and MMLU stand-ins on a tiny LM trained on them, instead of "
        "GPT-2 Medium and Chinchilla 70B; mean ablation instead of path patching (spec).",
    ]
    write_paper_table(args, display, numeric=numeric, scale=p["model_note"], notes=notes,
                      title="Circuits — component reuse across tasks and output heads (arXiv 2310.08744, 2307.09458)")
    overlap_figure(read_parquet(args.input("overlaps"), ["seed_index", "a", "b", "overlap"]), args.output("overlap_fig"))
    importance_figure(read_parquet(args.input("heads"), ["seed_index", "task", "layer", "head", "importance"]),
                      args.output("importance_fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
