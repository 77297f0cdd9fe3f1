"""Multi-subject cases of the image world: a target scene with 1-3 subjects and, per subject, a
reference scene showing that subject alone, centred and larger (positions and scales differ, which
is what reposition attention addresses)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.seeds import derive_seed
from attnlab.world.caption import caption
from attnlab.world.scene import Scene, random_scene, subject_sizes

REFERENCE_SIZE = 0.22  # circumradius of the subject in its reference image (frame fraction)


def reference_scene(scene: Scene, i: int) -> Scene:
    s = scene.subjects[i].moved(x=0.5, y=0.5, size=REFERENCE_SIZE)
    return Scene([s], scene.background)


def synthesize(subject_counts: list[int], cases_per_count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k in subject_counts:
        for _ in range(cases_per_count):
            scene = random_scene(rng, k)
            refs = [reference_scene(scene, i) for i in range(k)]
            rows.append({"case": len(rows), "n_subjects": k, "target_caption": caption(scene),
                         "target_scene": json.dumps(scene.to_dict()),
                         "ref_captions": [caption(r) for r in refs],
                         "ref_scenes": [json.dumps(r.to_dict()) for r in refs]})
    return pd.DataFrame(rows)


def synthesize_seeds(subject_counts: list[int], cases_per_count: int, seed: int, n_seeds: int) -> pd.DataFrame:
    """Every seed's own cases (drawn from derive_seed(seed, "seed", s)), with a `seed_index`
    column; case numbers run on across seeds, so a case number names one case."""
    parts = []
    for s in range(n_seeds):
        df = synthesize(subject_counts, cases_per_count, derive_seed(seed, "seed", s))
        df.insert(0, "seed_index", s)
        df["case"] += sum(len(x) for x in parts)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def main(args: StepArgs) -> None:
    p = args.params
    with subject_sizes(p.get("subject_sizes")):
        df = synthesize_seeds(list(p["subject_counts"]), int(p["cases_per_count"]), int(p["seed"]), int(p["seeds"]))
    write_parquet(args.output("cases"), df)
    print(f"{len(df)} cases over {p['seeds']} seeds")


if __name__ == "__main__":
    run_step(main, description=__doc__)
