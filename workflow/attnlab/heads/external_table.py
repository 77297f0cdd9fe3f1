"""The head-analysis table of a user's own model (`heads.external_models`): the retrieval-heads and
attention-sinks measurements of one local Hugging Face causal LM, beside the papers' numbers, with
a figure (retrieval-score heat map and sink rate per layer).

    python -m attnlab.heads.external_table --input retrieval_heads H --input ablation A \
        --input sink_heads SH --input sink_samples SS --input secondary X \
        --output md .. --output csv .. --output tex .. --output html .. --output fig F.png --params JSON
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.heads.summary import per_run_metrics, per_seed_metrics
from attnlab.io import read_parquet
from attnlab.provenance import provenance
from attnlab.tables import table_paths, write_table


def rows(r: pd.Series, s: pd.Series, ks: list[int]) -> list[dict]:
    out = [
        {"measurement": "heads with retrieval score > 0.1", "value": f"{100 * r.frac_retrieval:.1f} %", "paper": "3–6 % (7B LLMs)"},
        {"measurement": "heads with retrieval score 0", "value": f"{100 * r.frac_zero:.1f} %", "paper": "45–73 %"},
        {"measurement": "top retrieval heads", "value": r.top_heads or "—", "paper": "Llama-2-7B-80K L16H19 0.94, L11H15 0.92"},
        {"measurement": "best retrieval score", "value": f"{r.max_score:.2f}", "paper": "0.94"},
        {"measurement": "needle exact match, no mask", "value": f"{r.base_accuracy:.1f} %", "paper": "≈100 %"},
    ]
    for k in ks:
        out.append({"measurement": f"needle exact match, top-{k} retrieval heads masked",
                    "value": f"{r[f'top{k}_accuracy']:.1f} %", "paper": "top-30 masked: NIAH breaks"})
        out.append({"measurement": f"needle exact match, {k} random non-retrieval heads masked (mean of draws)",
                    "value": f"{r[f'random{k}_accuracy']:.1f} %", "paper": "30 random masked: ≈ unchanged"})
    out += [
        {"measurement": "Sink₁^ε (first-token sink rate)", "value": f"{s.sink1:.2f} %", "paper": "18.18 % (60M) – 45.11 % (1B)"},
        {"measurement": "mean / max first-token importance α₁", "value": f"{s.alpha1_mean:.3f} / {s.alpha1_max:.3f}", "paper": "—"},
        {"measurement": "secondary sinks per sequence", "value": f"{s.secondary_per_seq:.2f}", "paper": "3–6 sink levels (14-32B)"},
        {"measurement": "secondary sinks: cosine to primary-sink direction", "value": f"{s.cos_primary:.2f}", "paper": "aligned"},
        {"measurement": "secondary sinks: creating-MLP cosine (control)", "value": f"{s.mlp_cos:.2f} ({s.control_cos:.2f})", "paper": "aligned"},
        {"measurement": "mean attention entropy (nats) / distance (tokens)", "value": f"{s.entropy:.2f} / {s.distance:.1f}", "paper": "—"},
    ]
    return out


def figure(heads: pd.DataFrame, samples: pd.DataFrame, title: str, path: str) -> None:
    fig, (a, b) = subplots(1, 2, figsize=(9.5, 3.4))
    grid = heads.pivot(index="layer", columns="head", values="retrieval_score").to_numpy()
    im = a.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="auto")
    a.set(title="retrieval score", xlabel="head", ylabel="layer")
    fig.colorbar(im, ax=a, fraction=0.046)
    cols = sorted((c for c in samples.columns if c.startswith("layer")), key=lambda c: int(c[5:]))
    b.plot(np.arange(len(cols)), 100 * samples[cols].mean().to_numpy(), marker="o")
    b.set(title="first-token sink rate per layer", xlabel="layer", ylabel="% of heads with α₁ > ε", ylim=(-2, 102))
    fig.suptitle(title, y=1.04)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    heads = read_parquet(args.input("retrieval_heads")).assign(seed_index=0)
    ablation = read_parquet(args.input("ablation")).assign(seed_index=0)
    ks = sorted(set(ablation.k[ablation.condition == "top"]))
    r = per_seed_metrics(heads, ablation, ks).iloc[0]
    frames = {"heads": read_parquet(args.input("sink_heads")), "samples": read_parquet(args.input("sink_samples")),
              "secondary": read_parquet(args.input("secondary"))}
    frames = {k: v.assign(variant=p["name"], seed_index=0) for k, v in frames.items()}
    s = per_run_metrics(frames).iloc[0]
    display = pd.DataFrame(rows(r, s, ks))
    numeric = pd.concat([pd.DataFrame([r]).add_prefix("retrieval_"), pd.DataFrame([s]).add_prefix("sinks_")], axis=1)
    prov = provenance(config_hash=p["config_hash"], seeds=[0], wall_time_s=float(heads.analysis_wall_s.iloc[0]),
                      scale=p["scale"], extra={"model_path": p["path"], "token_offset": p["token_offset"]})
    notes = [f"Model: {p['path']} (tokenizer-free: task token ids shifted by token_offset {p['token_offset']}), "
             "eager attention, fp32.",
             f"Needle suite and text suite: the held-out data of the retrieval_heads and attention_sinks experiments "
             f"(seed 0) at this scale ({p['scale']}).",
             "The papers' numbers come from their own models and natural-language prompts; a model meeting random "
             "token ids is a different setting — compare directions, not digits."]
    write_table(table_paths(args), display,
                title=f"Head analysis of external model {p['name']}", provenance=prov, numeric=numeric, notes=notes)
    figure(heads, frames["samples"], f"{p['name']}: retrieval heads and first-token sinks", args.output("fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
