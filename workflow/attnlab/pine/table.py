"""The pine table (each inference variant of the one trained rope model, our numbers beside the
paper's) and its figure: accuracy by gold-document position per variant (claim 1's curve for
vanilla: where the bias sits)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.io import read_parquet
from attnlab.tables import mean_sd, mean_sd_columns, write_paper_table

METRICS = ("accuracy", "worst", "best", "spread", "max_dlogit", "score_wall_s")
NAMES = {"vanilla": "vanilla (causal, original positions)", "nia": "NIA (no inter-document attention)",
         "pcw": "PCW (NIA, shared document positions)", "pine_noreorder": "PINE without re-assignment",
         "pine": "PINE"}
PAPER = {"vanilla": "RewardBench reasoning (shuffled): 65.3 / 78.9 / 59.3 (Llama-3-8B / 70B / Qwen-1.5-7B)",
         "pine": "RewardBench reasoning: 73.4 / 87.6 / 63.0; retrieval QA (70B) +1.2 (10 docs), −2.0 (20 docs) vs "
                 "vanilla, flat over positions; ≈2× (judge) to 8× (20-doc QA) wall time",
         "pine_noreorder": "−1.5 points against PINE at 20 documents",
         "pcw": "PINE better by 4.8 (Llama-3-8B) / 4.7 (Qwen-1.5-7B) on RewardBench",
         "nia": "PINE better by 4.8 (Llama-3-8B) / 4.7 (Qwen-1.5-7B) on RewardBench"}


def summarise(m: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    display, numeric = [], []
    van_wall = m[m.variant == "vanilla"].score_wall_s.mean()
    for variant in [v for v in NAMES if v in set(m.variant)]:
        g = m[m.variant == variant]
        display.append({
            "inference": NAMES[variant],
            "accuracy (%)": mean_sd(100 * g.accuracy, 1), "worst position (%)": mean_sd(100 * g.worst, 1),
            "best position (%)": mean_sd(100 * g.best, 1), "spread (points)": mean_sd(100 * g.spread, 1),
            "max |Δ logits| over orders": f"{g.max_dlogit.max():.1e}",
            "scoring time vs vanilla": f"{g.score_wall_s.mean() / van_wall:.1f}×" if van_wall > 0 else "—",
            "paper": PAPER[variant],
        })
        numeric.append({"variant": variant, "n_seeds": len(g), **mean_sd_columns(g, METRICS)})
    return pd.DataFrame(display), pd.DataFrame(numeric)


def by_position_figure(bp: pd.DataFrame, path: str) -> None:
    fig, ax = subplots(figsize=(5.6, 3.6))
    colors = {"vanilla": "black", "nia": "tab:orange", "pcw": "tab:green", "pine_noreorder": "tab:purple",
              "pine": "crimson"}
    for variant in [v for v in NAMES if v in set(bp.variant)]:
        g = bp[bp.variant == variant].groupby("gold_position").accuracy
        mean, sd = 100 * g.mean(), 100 * g.std(ddof=1).fillna(0)
        ax.errorbar(mean.index, mean.to_numpy(), yerr=sd.to_numpy(), marker="o", capsize=3, label=NAMES[variant],
                    color=colors.get(variant), ls="--" if variant in ("nia", "pcw") else "-")
    positions = np.sort(bp.gold_position.unique())
    ax.set(xlabel="gold document position (0 = first)", ylabel="accuracy (%)", xticks=positions, ylim=(-2, 102),
           title="Retrieval QA accuracy by gold position (mean ± sd over seeds)")
    ax.legend(fontsize=7)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    metrics = read_parquet(args.input("metrics"), ["variant", "seed_index", *METRICS])
    display, numeric = summarise(metrics)
    notes = [
        f"Task: {p['task_note']}. Every document's key pair is one cell of a full grid (2 × 4 at K = 8), so one "
        "key alone is ambiguous and no document stands out without the question (the spec's 'each distractor "
        "shares one key with the gold document' as a star would mark the gold document by key counts).",
        "One model per seed is trained with causal softmax attention and rope; the variants are inference options "
        "of attnlab.attention.pine on its weights, never trained with (the paper's setting: PINE needs no "
        "training). PINE's importance is averaged over heads (one document order per query and layer).",
        "Substitute: the paper's numbers are from Llama-3 / Qwen-1.5 judges on RewardBench and Llama-3-70B on "
        "NQ-open; ours from a tiny model on synthetic retrieval QA. Scoring time: one pass over the test set, "
        "one thread, relative to vanilla (shared machine).",
    ]
    write_paper_table(args, display, numeric=numeric, scale=p["model_note"], notes=notes,
                      title="PINE — position-invariant inference over documents (arXiv 2407.01100), substitute")
    bp = read_parquet(args.input("by_position"), ["variant", "seed_index", "gold_position", "accuracy"])
    by_position_figure(bp, args.output("by_position_fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
