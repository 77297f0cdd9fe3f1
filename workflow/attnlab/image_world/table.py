"""The image_world table (parser against ground truth; the model's caption accuracy against a
shuffled-caption baseline, by subject count) and the sample grid."""

from __future__ import annotations

import textwrap

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.figures import sample_grid
from attnlab.image_world.evaluate import FIELDS
from attnlab.io import read_json, read_parquet
from attnlab.tables import competence_notes, deviation_notes, mean_sd, table_paths, write_table
from attnlab.vision.images import read_image_dir

GRID_COLUMNS = 8


def summarise(parser: dict, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    display, numeric = [], []
    scores = parser["scores"]
    display.append({"images": f"ground-truth renders, parsed (n = {parser['n']})",
                    **{f: f"{scores[f]:.3f}" if f in scores else "—" for f in (*FIELDS, "core")}})
    numeric.append({"images": "ground_truth", **{f: scores.get(f) for f in (*FIELDS, "core")}})
    groups = [("all", samples)] + [(f"{k} subject(s)", g) for k, g in samples.groupby("n_subjects")]
    for name, g in groups:
        per_seed = g.groupby("seed_index")
        for prefix, label in (("", "generated"), ("shuffled_", "generated vs shuffled captions")):
            means = per_seed[[prefix + f for f in FIELDS]].mean()
            display.append({"images": f"{label}, {name}",
                            **{f: mean_sd(means[prefix + f]) for f in FIELDS}})
            numeric.append({"images": f"{prefix or 'own_'}{name}",
                            **{f: means[prefix + f].mean() for f in FIELDS}})
    return pd.DataFrame(display).fillna("—"), pd.DataFrame(numeric)


def caption_use_note(use: dict) -> str:
    """The caption-use probe's line in the notes: per timestep, the rise of the denoising loss when one
    caption word is swapped (or the caption emptied), against the own caption's loss."""
    per_t = []
    for t in use["timesteps"]:
        t = str(t)
        own = use["loss"]["own"][t]
        per_t.append(f"t = {t}: " + ", ".join(f"{k} {row[t] - own:+.4f}" for k, row in use["loss"].items() if k != "own")
                     + f" (own caption {own:.4f})")
    return (f"Caption use (the denoising probe, attnlab.diffusion.probe; a diagnostic, not a claim): the model's denoising "
            f"loss on {use['n']} fresh one-subject renders rises when one word of the caption is swapped, by "
            + "; ".join(per_t) + ". A rise of ~0 means the model ignores that word.")


def main(args: StepArgs) -> None:
    p = args.params
    parser = read_json(args.input("parser"))
    samples = read_parquet(args.input("samples"))
    prov = read_json(args.input("claims"))["provenance"]
    display, numeric = summarise(parser, samples)
    notes = [
        f"Scale {p['scale']}: accuracy per field of the parsed image against the scene graph its caption "
        f"came from; generated rows are mean ± sd over {len(p['seeds'])} sampling seeds of one trained model "
        "(each seed draws its own scenes and noise).",
        "Substitute: world renders, the world parser and a tiny workflow-trained model stand in for real "
        "photographs, a detector + segmenter and a pretrained text-to-image model.",
        "Shuffled: each image scored against the next image's scene, the chance level of each field. "
        "Core (the hidden identity) is scored for the parser only: captions never name it.",
    ]
    gate = read_json(args.input("competence"))
    notes.append("The competence gate below is the vision track's: ir_diffusion, mucr and envision judge a seed's "
                 "model claims only when it is met on that seed.")
    notes.append(caption_use_note(read_json(args.input("caption_use"))))
    write_table(table_paths(args), display,
                title="image_world — parser ceiling and caption accuracy of the text-to-image model",
                provenance=prov, numeric=numeric, notes=[*notes, *competence_notes([{"competence": gate}]), *deviation_notes(args.params)])
    df = read_image_dir(args.inputs["images"][0]).head(2 * GRID_COLUMNS)
    rows = [list(df["image"][i:i + GRID_COLUMNS]) for i in range(0, len(df), GRID_COLUMNS)]
    titles = [[textwrap.fill(c, 16) for c in df["caption"][i:i + GRID_COLUMNS]]
              for i in range(0, len(df), GRID_COLUMNS)]
    sample_grid(rows, [""] * len(rows), [], f"image_world: samples of seed {int(df['seed_index'].iloc[0])} "
                "(title: the caption drawn)", args.output("samples_fig"), cell_titles=titles)

if __name__ == "__main__":
    run_step(main, description=__doc__)
