"""MuCR pairs: synthesised from the world's causal rule families (one per cue type) in MuCR's
schema, or a real MuCR Parquet file read from `real_path` and checked against that schema."""

from __future__ import annotations

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.seeds import derive_seed
from attnlab.world.mucr import read_mucr, synthesize
from attnlab.world.render import to_png
from attnlab.world.scene import subject_sizes


def synthesize_seeds(n_pairs: int, seed: int, size: int, n_seeds: int) -> pd.DataFrame:
    """Every seed's own pairs (drawn from derive_seed(seed, "seed", s)) with a `seed_index` column;
    ids carry the seed, so an id names one pair."""
    parts = []
    for s in range(n_seeds):
        df = synthesize(n_pairs, derive_seed(seed, "seed", s), size)
        df["id"] = [f"seed{s}-{i}" for i in df["id"]]
        df.insert(0, "seed_index", s)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def main(args: StepArgs) -> None:
    p = args.params
    if p.get("real_path"):
        df = read_mucr(p["real_path"])  # schema checked, images decoded (a bad image names its row)
        for col in ("image_0", "image_1"):  # stored again as HF Image dicts
            df[col] = [{"bytes": to_png(img), "path": f"{rid}_{col[-1]}.png"} for rid, img in zip(df["id"], df[col])]
        source = p["real_path"]
    else:
        with subject_sizes(p.get("subject_sizes")):
            df = synthesize_seeds(int(p["n_pairs"]), int(p["seed"]), int(p["size"]), int(p["seeds"]))
        source = f"synthetic, {p['seeds']} seeds' own pairs"
    write_parquet(args.output("pairs"), df)
    print(f"{len(df)} pairs ({source})")


if __name__ == "__main__":
    run_step(main, description=__doc__)
