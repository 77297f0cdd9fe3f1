"""Which caption words does the vision track's model use? The denoising probe (attnlab.diffusion.probe)
on fresh one-subject world renders: the model's denoising loss with each render's own caption, and its
rise when one word (colour, shape, position, background) is swapped or the caption is empty, at a few
timesteps (same images, noise and timesteps for every variant).

Not a claim: it explains the competence gate in image_world's table. A model that draws the colours
of its captions loses when "red" reads "blue"; one that ignores colour words does not (a rise of ~0).

    python -m attnlab.image_world.probe --input model DIR --output caption_use P.json \\
        --params JSON  (n, seed, size, timesteps, subject_sizes, device)
"""

from __future__ import annotations

import numpy as np

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.diffusion.probe import caption_use
from attnlab.io import write_json
from attnlab.seeds import derive_seed
from attnlab.world.render import render
from attnlab.world.scene import random_scene, subject_sizes


def probe(components: dict, n: int, seed: int, size: int, timesteps) -> dict:
    """caption_use on n one-subject scenes drawn from `seed`: {"n", "timesteps", "loss": {variant: {t: loss}}},
    the JSON written by the step (timesteps as strings)."""
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng, 1) for _ in range(n)]
    images = np.stack([render(s, size).image for s in scenes])
    use = caption_use(components, scenes, images, timesteps=tuple(int(t) for t in timesteps),
                      seed=derive_seed(seed, "noise"))
    return {"n": n, "timesteps": [int(t) for t in timesteps],
            "loss": {k: {str(t): v for t, v in row.items()} for k, row in use.items()}}


def main(args: StepArgs) -> None:
    p = args.params
    components = load_pipeline(args.input("model"), device=p.get("device", "auto"))
    with subject_sizes(p.get("subject_sizes")):
        out = probe(components, int(p["n"]), int(p["seed"]), int(p["size"]), p["timesteps"])
    write_json(args.output("caption_use"), out)
    t = str(out["timesteps"][-1])
    own = out["loss"]["own"][t]
    print(f"caption use at t={t}: " + ", ".join(f"{k} {row[t] - own:+.4f}" for k, row in out["loss"].items() if k != "own"))


if __name__ == "__main__":
    run_step(main, description=__doc__)
