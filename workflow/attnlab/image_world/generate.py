"""Draw fresh world scenes' captions with the text-to-image model (one image per caption); the
scene graph each caption came from is kept beside the image for scoring."""

from __future__ import annotations

import json

import numpy as np

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.seeds import derive_seed
from attnlab.vision.consistency import Item, plain
from attnlab.vision.images import write_image_dir
from attnlab.world.caption import caption
from attnlab.world.scene import random_scene, subject_sizes


def main(args: StepArgs) -> None:
    p = args.params
    rng = np.random.default_rng(int(p["seed"]))
    with subject_sizes(p.get("subject_sizes")):
        scenes = [random_scene(rng, int(rng.integers(1, 4))) for _ in range(int(p["n"]))]
    prompts = [caption(s) for s in scenes]
    components = load_pipeline(args.input("model"), device=p.get("device", "auto"))
    items = [Item([c], [s], derive_seed(int(p["seed"]), "item", i))
             for i, (c, s) in enumerate(zip(prompts, scenes))]
    images = [drawn[0] for drawn in plain(components, items, p)]
    write_image_dir(args.output("images"), [
        {"image": img, "caption": c, "scene": json.dumps(s.to_dict()), "n_subjects": len(s.subjects),
         "seed_index": int(p["seed_index"])}
        for img, c, s in zip(images, prompts, scenes)])
    print(f"{len(images)} images")


if __name__ == "__main__":
    run_step(main, description=__doc__)
