"""The text-to-image training set: world renders with their captions (and scene graphs)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from attnlab.world.caption import caption
from attnlab.world.envision_prompts import N_STAGES, frame_prompt
from attnlab.world.render import render, to_png
from attnlab.world.rules import RULES
from attnlab.world.scene import random_scene


def training_set(n: int, seed: int, size: int = 32, rule_fraction: float = 0.3,
                 prompt_fraction: float = 0.5) -> pd.DataFrame:
    """n rows with columns image (PNG bytes), caption, scene (JSON of the scene graph).

    A (1 - rule_fraction) share are random scenes of 1-3 subjects; the rest are frames of rule
    trajectories (a random rule, initial scene and stage), captioned half the time (prompt_fraction)
    with the Envision-style frame prompt instead of the plain caption, so the model has seen
    both kinds of text it will be prompted with.
    """
    rng = np.random.default_rng(seed)
    names = sorted(RULES)
    rows = []
    for _ in range(n):
        if rng.random() >= rule_fraction:
            scene = random_scene(rng, int(rng.integers(1, 4)))
            text = caption(scene)
        else:
            rule = RULES[names[rng.integers(len(names))]]
            frames = rule.frames(rule.initial_scene(rng), N_STAGES)
            step = int(rng.integers(1, N_STAGES + 1))
            scene = frames[step - 1]
            text = frame_prompt(step, rule, frames) if rng.random() < prompt_fraction else caption(scene)
        rows.append({"image": to_png(render(scene, size).image), "caption": text,
                     "scene": json.dumps(scene.to_dict())})
    return pd.DataFrame(rows, columns=["image", "caption", "scene"])
