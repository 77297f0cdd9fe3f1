"""Score the world parser against ground-truth renders: the ceiling of every parsed metric.

    python -m attnlab.image_world.validate --output parser P.json --params JSON  (n, seed, size)
"""

from __future__ import annotations

import json
import time

import numpy as np

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_json
from attnlab.world.dataset import training_set
from attnlab.world.metrics import caption_accuracy, matched
from attnlab.world.parser import parse, perturb
from attnlab.world.render import render
from attnlab.world.scene import Scene, subject_sizes


def validate(n: int, seed: int, size: int = 32, noise: float = 0.0, blur: float = 0.0) -> dict:
    """Parser accuracy against ground truth on n scenes drawn like the training set (random 1-3
    subject scenes and rule frames), rendered at `size` and optionally degraded (perturb).

    Returns mean accuracies: strict (count, background and every subject's colour, shape, ring and
    core right), colour, shape, core, ring, count, background (subject-level ones are fractions of
    true subjects; an unmatched subject counts as wrong), and n.
    """
    rng = np.random.default_rng(seed + 1)
    df = training_set(n, seed, size)
    keys = ("strict", "colour", "shape", "core", "ring", "count", "background")
    acc = {k: [] for k in keys}
    for text in df.scene:
        truth = Scene.from_dict(json.loads(text))
        got = parse(perturb(render(truth, size).image, rng, noise, blur))
        ca = caption_accuracy(got, truth)
        m = matched(got, truth)
        core = [g is not None and g.core == t.core for g, t in zip(m, truth.subjects)]
        acc["core"].append(float(np.mean(core)) if core else 1.0)
        for k in ("colour", "shape", "ring", "count", "background"):
            acc[k].append(ca[k])
        acc["strict"].append(float(ca["strict"] == 1 and all(core)))
    out = {k: float(np.mean(v)) for k, v in acc.items()}
    out["n"] = n
    return out


def main(args: StepArgs) -> None:
    p = args.params
    t0 = time.perf_counter()
    with subject_sizes(p.get("subject_sizes")):
        scores = validate(int(p["n"]), int(p["seed"]), int(p["size"]))
    write_json(args.output("parser"), {"n": p["n"], "size": p["size"], "seed": p["seed"],
                                       "scores": scores, "wall_s": time.perf_counter() - t0})
    print(scores)


if __name__ == "__main__":
    run_step(main, description=__doc__)
