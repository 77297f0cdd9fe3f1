"""MuCR pairs: synthesised from the world's causal rule families (one per cue type) in MuCR's
schema, or a real MuCR Parquet file read from `real_path` and checked against that schema."""

from __future__ import annotations

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.world.mucr import read_mucr, synthesize
from attnlab.world.render import to_png


def main(args: StepArgs) -> None:
    p = args.params
    if p.get("real_path"):
        df = read_mucr(p["real_path"])  # schema checked, images decoded (a bad image names its row)
        for col in ("image_0", "image_1"):  # stored again as HF Image dicts
            df[col] = [{"bytes": to_png(img), "path": f"{rid}_{col[-1]}.png"} for rid, img in zip(df["id"], df[col])]
        source = p["real_path"]
    else:
        df = synthesize(int(p["n_pairs"]), int(p["seed"]), int(p["size"]))
        source = "synthetic"
    write_parquet(args.output("pairs"), df)
    print(f"{len(df)} pairs ({source})")


if __name__ == "__main__":
    run_step(main, description=__doc__)
