"""The base VLM's metric table (CHAIR, POPE per split, VQA per task; per seed and mean ± sd, with the
design's bars) and its learning curves (training loss of stages V, T, A, S per seed)."""

from __future__ import annotations

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import save, subplots
from attnlab.io import read_parquet
from attnlab.tables import mean_sd, write_paper_table

STAGE_NAMES = {"V": "V: vision tower (multi-label)", "T": "T: LM on text", "A": "A: projector (captions)",
               "S": "S: projector + LM (mix)"}


def rows_of(m: pd.DataFrame, competence: dict, band: dict) -> list[tuple[str, str, str]]:
    """(quantity, metric column, design bar) in table order; columns missing from `m` are skipped."""
    rows = [
        ("caption object precision (1 - CHAIR_I)", "caption_precision", f"≥ {competence['caption_precision']:g}"),
        ("CHAIR_I", "chair.chair_i", f"{band['lo']:g}-{band['hi']:g}"),
        ("CHAIR_S", "chair.chair_s", "—"),
        ("object recall", "chair.recall", "—"),
        ("attribute CHAIR (size / ring / position / background)", "chair.attribute_chair", "—"),
        ("share of hallucinations that are a present type's companion", "chair.prior_share", "—"),
        ("unparseable captions (counted, never dropped)", "chair.unparseable_rate", "—"),
    ]
    for split in ("random", "popular", "adversarial", "prior_violating", "prior_consistent"):
        bar = f"≥ {competence['pope_random']:g}" if split == "random" else "—"
        rows += [(f"POPE {split}: accuracy", f"pope.{split}.accuracy", bar),
                 (f"POPE {split}: F1", f"pope.{split}.f1", "—"),
                 (f"POPE {split}: yes-ratio", f"pope.{split}.yes_ratio", "—")]
    vqa = sorted(c for c in m.columns if c.startswith("vqa.") and c not in ("vqa.existence", "vqa.caption"))
    rows += [(f"VQA exact match: {c[4:]}", c, "—") for c in vqa]
    return [r for r in rows if r[1] in m.columns]


def summarise(m: pd.DataFrame, competence: dict, band: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = m.sort_values("seed_index")
    seeds = [int(s) for s in m.seed_index]
    out = []
    for name, col, bar in rows_of(m, competence, band):
        v = m[col].astype(float)
        out.append({"quantity": name, "ours (mean ± sd over seeds)": mean_sd(v, 3),
                    **{f"seed {s}": f"{x:.3f}" for s, x in zip(seeds, v)}, "design bar": bar})
    display = pd.DataFrame(out)
    numeric = m.copy()
    return display, numeric


def curves_figure(curves: pd.DataFrame, path: str) -> None:
    fig, axes = subplots(1, 4, figsize=(13, 3), squeeze=False)
    for ax, stage in zip(axes[0], ("V", "T", "A", "S")):
        c = curves[curves.stage == stage]
        for s, g in c.groupby("seed_index"):
            ax.plot(g.step, g.loss, label=f"seed {s}")
        ax.set(title=STAGE_NAMES[stage], xlabel="step", ylabel="training loss")
        ax.title.set_fontsize(9)
    axes[0, 0].legend(fontsize=7)
    save(fig, path)


def main(args: StepArgs) -> None:
    p = args.params
    metrics = read_parquet(args.input("metrics"))
    display, numeric = summarise(metrics, p["competence"], p["chair_band"])
    captions = read_parquet(args.input("captions"))
    examples = "; ".join(f"“{r.caption}” (truth “{r.truth}”)" for r in captions.head(3).itertuples())
    notes = [
        f"Data: the VLM world (attnlab.vlm.data), {p['data_note']}; test images disjoint from dev and train.",
        "Greedy decoding. CHAIR is exact against each image's scene graph (a colour word followed by a shape word "
        "within 2 tokens is a mention); POPE reads the first generated word; VQA is exact match. Popular negatives "
        "are hubs (the most frequent types), adversarial negatives are companions of present types; a "
        "prior-violating scene holds a type whose companion is absent.",
        "The design's bars are competence bars of the base model (checks, not paper claims): every vlm_* / vit_* "
        "experiment on it is a substitute (S/V).",
        f"Example captions (seed 0): {examples}." if examples else "",
    ]
    write_paper_table(args, display, numeric=numeric, scale=p["model_note"], notes=[n for n in notes if n],
                      title="Base VLM — CHAIR, POPE and VQA on the VLM world's test split (vlm_design.md)")
    curves_figure(read_parquet(args.input("curves")), args.output("curves_fig"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
