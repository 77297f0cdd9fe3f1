"""The text-to-image model's training set: captioned world renders (PNG bytes, caption, scene).

    python -m attnlab.vision.synth --output data TRAIN.parquet --params JSON  (n, seed, size)
"""

from __future__ import annotations

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.world.dataset import training_set
from attnlab.world.scene import subject_sizes


def main(args: StepArgs) -> None:
    p = args.params
    with subject_sizes(p.get("subject_sizes")):
        df = training_set(int(p["n"]), int(p["seed"]), int(p["size"]))
    write_parquet(args.output("data"), df)
    print(f"{len(df)} captioned renders of {p['size']}x{p['size']}")


if __name__ == "__main__":
    run_step(main, description=__doc__)
