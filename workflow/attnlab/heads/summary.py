"""Per-run summaries of the head-analysis frames: the sink suite's (attnlab.heads.sink_suite) and
the needle suite's (attnlab.heads.needle_suite). Shared by the attention_sinks and retrieval_heads
evaluate steps and by the table of a user's own model (attnlab.heads.external_table)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.heads import retrieval
from attnlab.heads.sinks import rank_correlation


def per_run_metrics(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (variant, seed_index) of sink-suite frames (heads, samples, secondary; each with
    variant and seed_index columns): Sink_1 rate (%, overall and per layer), first-token α, entropy,
    distance, and the secondary sinks' counts, alignments, norms and rank correlations."""
    rows = []
    for (variant, seed), h in frames["heads"].groupby(["variant", "seed_index"], sort=False):
        s = frames["samples"][(frames["samples"].variant == variant) & (frames["samples"].seed_index == seed)]
        x = frames["secondary"][(frames["secondary"].variant == variant) & (frames["secondary"].seed_index == seed)]
        layer_cols = sorted((c for c in s.columns if c.startswith("layer")), key=lambda c: int(c[5:]))
        row = {"variant": variant, "seed_index": int(seed), "sink1": 100 * float(s.sink_rate.mean()),
               "alpha1_mean": float(h.alpha1.mean()), "alpha1_max": float(h.alpha1.max()),
               "entropy": float(h.entropy.mean()), "distance": float(h.distance.mean()),
               "n_sequences": len(s), "n_secondary": len(x),
               "secondary_per_seq": len(x) / max(len(s), 1),
               "seq_with_secondary": float(x["sample"].nunique() / max(len(s), 1)),
               "cos_primary": float(x.cos_primary.mean()) if len(x) else np.nan,
               "mlp_cos": float(x.mlp_cos.mean()) if len(x) else np.nan,
               "control_cos": float(x.control_cos.mean()) if len(x) else np.nan,
               "mlp_norm": float(x.mlp_norm.mean()) if len(x) else np.nan,
               "mean_layers": float(x.layers.mean()) if len(x) else np.nan,
               "rho_norm_score": rank_correlation(x.mlp_norm, x.score),
               "rho_norm_layers": rank_correlation(x.mlp_norm, x.layers)}
        row.update({f"sink1_{c}": 100 * float(s[c].mean()) for c in layer_cols})
        rows.append(row)
    return pd.DataFrame(rows)


def overall(ablation: pd.DataFrame) -> pd.DataFrame:
    """Accuracy (%) over the whole suite per (seed, condition, k, draw): cells weighted by n."""
    g = ablation.assign(hits=ablation.accuracy * ablation.n).groupby(["seed_index", "condition", "k", "draw"])
    return (100 * g.hits.sum() / g.n.sum()).rename("accuracy").reset_index()


def per_seed_metrics(heads: pd.DataFrame, ablation: pd.DataFrame, ks: list[int]) -> pd.DataFrame:
    """One row per seed_index of needle-suite frames: the retrieval-score summary, the top heads,
    unablated accuracy, and per K the accuracy and drop with the top-K and K random heads masked."""
    acc = overall(ablation)
    rows = []
    for seed, h in heads.groupby("seed_index"):
        S = h.pivot(index="layer", columns="head", values="retrieval_score").to_numpy()
        a = acc[acc.seed_index == seed]
        base = float(a[a.condition == "none"].accuracy.iloc[0])
        row = {"seed_index": int(seed), **retrieval.summary(S), "base_accuracy": base,
               "greedy_exact": float(h.greedy_exact.iloc[0]) * 100,
               "top_heads": " ".join(f"L{l}H{hh}" for l, hh in retrieval.retrieval_heads(S)[:8])}
        for k in ks:
            top = a[(a.condition == "top") & (a.k == k)].accuracy
            rnd = a[(a.condition == "random") & (a.k == k)].accuracy
            row[f"top{k}_accuracy"] = float(top.iloc[0]) if len(top) else np.nan
            row[f"random{k}_accuracy"] = float(rnd.mean()) if len(rnd) else np.nan
            row[f"top{k}_drop"] = base - row[f"top{k}_accuracy"]
            row[f"random{k}_drop"] = base - row[f"random{k}_accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)
