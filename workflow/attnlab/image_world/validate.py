"""Score the world parser against ground-truth renders: the ceiling of every parsed metric."""

from __future__ import annotations

import time

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_json
from attnlab.world.parser import validate


def main(args: StepArgs) -> None:
    p = args.params
    t0 = time.perf_counter()
    scores = validate(int(p["n"]), int(p["seed"]), int(p["size"]))
    write_json(args.output("parser"), {"n": p["n"], "size": p["size"], "seed": p["seed"],
                                       "scores": scores, "wall_s": time.perf_counter() - t0})
    print(scores)


if __name__ == "__main__":
    run_step(main, description=__doc__)
