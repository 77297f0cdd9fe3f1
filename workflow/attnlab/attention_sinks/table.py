"""The attention-sinks table (our numbers beside the paper's, one section per setting: tuned, and
before the retune) and its figures: sink rate per layer (softmax vs sigmoid, both settings) and
attention maps of the heads with the strongest first-token sink (tuned setting)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.io import read_parquet
from attnlab.tables import mean_sd, mean_sd_columns, write_paper_table

METRICS = ("copy_accuracy", "sink1", "alpha1_mean", "alpha1_max", "entropy", "distance", "secondary_per_seq", "cos_primary",
           "mlp_cos", "control_cos", "mlp_norm", "mean_layers", "rho_norm_score", "rho_norm_layers")
PAPER_SINK1 = {"softmax": "18.18% (60M); 45.11% (1B)", "sigmoid": "0.44% (60M, no normalisation); 2.46% (1B)"}


SETTINGS = {"tuned": "tuned", "pretuning": "before the retune"}


def summarise(m: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "setting" not in m.columns:
        m = m.assign(setting="tuned")
    display, numeric = [], []
    order = {s: i for i, s in enumerate(SETTINGS)}
    for (setting, variant), g in sorted(m.groupby(["setting", "variant"], sort=False),
                                        key=lambda kv: order.get(kv[0][0], 99)):
        has = g.n_secondary > 0
        display.append({
            "setting": SETTINGS.get(setting, setting), "attention": variant,
            "copy accuracy": mean_sd(g.copy_accuracy, 3),
            "Sink₁ (%)": mean_sd(g.sink1, 2), "paper Sink₁": PAPER_SINK1.get(variant, "—"),
            "mean α₁": mean_sd(g.alpha1_mean, 3), "max α₁": mean_sd(g.alpha1_max, 3),
            "entropy (nats)": mean_sd(g.entropy, 2), "distance": mean_sd(g.distance, 1),
            "secondary sinks / seq": mean_sd(g.secondary_per_seq, 2),
            "cos to primary": mean_sd(g.cos_primary[has], 2), "creating-MLP cos (control)":
                f"{mean_sd(g.mlp_cos[has], 2)} ({mean_sd(g.control_cos[has], 2)})",
            "creating-MLP ‖out‖": mean_sd(g.mlp_norm[has], 2),
            "ρ(‖out‖, score)": mean_sd(g.rho_norm_score, 2), "ρ(‖out‖, layers)": mean_sd(g.rho_norm_layers, 2),
        })
        numeric.append({"setting": setting, "variant": variant, "n_seeds": len(g), **mean_sd_columns(g, METRICS)})
    return pd.DataFrame(display), pd.DataFrame(numeric)


def sink_rate_figure(m: pd.DataFrame, path: str) -> None:
    cols = sorted((c for c in m.columns if c.startswith("sink1_layer")), key=lambda c: int(c[len("sink1_layer"):]))
    if "setting" not in m.columns:
        m = m.assign(setting="tuned")
    fig, ax = subplots(figsize=(5.2, 3.4))
    x = np.arange(len(cols))
    colors = dict(zip(m.variant.unique(), ("crimson", "steelblue", "seagreen", "orange")))
    for (setting, variant), g in m.groupby(["setting", "variant"], sort=False):
        g = g[cols].dropna(axis=1, how="all")
        xs = x[: g.shape[1]]
        ax.errorbar(xs, g.mean().to_numpy(), yerr=g.std(ddof=1).fillna(0).to_numpy(), marker="o", capsize=3,
                    color=colors[variant], ls="-" if setting == "tuned" else ":",
                    label=f"{variant} ({SETTINGS.get(setting, setting)})")
    ax.set(xlabel="layer", ylabel="Sink₁ in layer (% of heads, α₁ > ε)", xticks=x, ylim=(-2, 102),
           title="First-token sink rate per layer (mean ± sd over seeds)")
    ax.legend(fontsize=8)
    save(fig, path)


def maps_figure(maps: pd.DataFrame, path: str) -> None:
    variants = list(maps.variant.unique())
    ranks = sorted(maps["rank"].unique())
    fig, axes = subplots(len(variants), len(ranks), figsize=(2.8 * len(ranks), 2.8 * len(variants)), squeeze=False)
    for i, v in enumerate(variants):
        for j, r in enumerate(ranks):
            ax = axes[i][j]
            m = maps[(maps.variant == v) & (maps["rank"] == r)]
            if m.empty:
                ax.set_axis_off()
                continue
            T = int(m["query"].max()) + 1
            A = np.zeros((T, T))
            A[m["query"], m["key"]] = m.weight
            ax.imshow(A, cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set(title=f"{v} L{int(m.layer.iloc[0])}H{int(m['head'].iloc[0])} α₁={m.alpha1.iloc[0]:.2f}",
                   xlabel="key", ylabel="query")
    fig.suptitle("Attention of the heads with the largest first-token importance (seed 0, one sequence)", y=1.04)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    metrics = read_parquet(args.input("metrics"), ["setting", "variant", "n_secondary", *METRICS])
    display, numeric = summarise(metrics)
    notes = [
        f"Task: {p['task_note']}.",
        f"Sink₁^ε (Gu et al.): fraction of heads whose first-token importance α₁ = mean_i A[i, 0] exceeds ε = "
        f"{p['epsilon']}, per sequence, averaged over sequences; sigmoid attention is unnormalised (bias −log T).",
        f"Secondary sinks: non-first tokens with α > τ = {p['tau']} in a middle layer (with ≥ {p['min_queries']} queries after them); "
        "creating MLP: the earlier layer whose MLP output at the token is most aligned with the first token's "
        "residual; control: the same selection at each non-sink token (its own most aligned earlier MLP), "
        "averaged. Exploratory at this scale.",
        "Substitute: the paper's numbers come from 60M-1B LMs pre-trained on natural text; ours from tiny models on "
        "a synthetic task that needs a sink. Entropy and distance: per-head mean over queries, averaged over heads.",
        "Settings: 'tuned' is the configured block, retuned after seeing results until sinks formed (see the "
        "deviations); 'before the retune' trains with the earlier values "
        f"({', '.join(f'{k} = {v}' for k, v in p['before_tuning'].items()) or 'none configured'}) on "
        f"{p.get('pretuning_seeds', 'every seed')} (config before_tuning_seeds), judged as its "
        "own claim row. Copy accuracy: share of back-copy targets (the token after a trigger) predicted on the "
        "held-out sequences, the claims' competence gate.",
    ]
    write_paper_table(args, display, numeric=numeric, scale=p["model_note"], notes=notes,
                      title="Attention sinks — first-token and secondary sinks, softmax vs sigmoid "
                            "(arXiv 2410.10781, 2512.22213)")
    sink_rate_figure(metrics, args.output("sink_rate_fig"))
    maps = read_parquet(args.input("maps"), ["setting", "variant", "rank", "layer", "head", "query", "key", "weight",
                                             "alpha1"])
    maps_figure(maps[maps.setting == "tuned"], args.output("maps_fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
