"""Which words of its caption does a text-to-image model use? The denoising probe.

A model uses a word when its denoising loss on a clean image rises once that word is swapped for
another of its kind: the same images, noise and timesteps, only the caption differs. A model that
draws the caption's colours loses when "red" reads "blue"; one that ignores colours does not.
Captions are the world's (attnlab.world.caption); `altered` changes one attribute of a scene.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from attnlab.diffusion.model import prediction_target, unet_input
from attnlab.diffusion.sample import encode_images, text_embeddings
from attnlab.world.caption import caption, position_phrase
from attnlab.world.scene import BACKGROUNDS, COLORS, SHAPES, Scene

ATTRIBUTES = ("colour", "shape", "position", "background")


def altered(scene: Scene, attribute: str) -> Scene:
    """The scene with one attribute changed to another value of its kind: the first subject's colour
    (three palette steps on), shape (the next), position (mirrored through the centre; a centred
    subject moves to the top left), or the background (the next)."""
    if attribute == "background":
        bgs = list(BACKGROUNDS)
        return replace(scene, background=bgs[(bgs.index(scene.background) + 1) % len(bgs)])
    if not scene.subjects:
        raise ValueError("altered: a scene without subjects has no subject attribute")
    s = scene.subjects[0]
    if attribute == "colour":
        cols = list(COLORS)
        s = replace(s, color=cols[(cols.index(s.color) + len(cols) // 2) % len(cols)])
    elif attribute == "shape":
        s = replace(s, shape=SHAPES[(SHAPES.index(s.shape) + 1) % len(SHAPES)])
    elif attribute == "position":
        x, y = 1 - s.x, 1 - s.y
        if position_phrase(x, y) == position_phrase(s.x, s.y):
            x, y = 0.2, 0.2
        s = replace(s, x=x, y=y)
    else:
        raise ValueError(f"altered: unknown attribute {attribute!r} (known: {ATTRIBUTES})")
    return replace(scene, subjects=[s, *scene.subjects[1:]])


@torch.no_grad()
def denoising_loss(components: dict, images: np.ndarray, prompts: Sequence[str], timesteps: Sequence[int],
                   seed: int) -> dict[int, float]:
    """Mean squared error of the UNet's prediction against the scheduler's target (noise, velocity or
    sample) for uint8 `images` (B, H, W, 3) noised to each timestep, per timestep. The noise depends on
    `seed` and t alone, so two calls with other prompts see the same noisy images."""
    x0 = encode_images(components, images).to(components["unet"].device)
    return _losses(components, x0, prompts, timesteps, seed)


def _losses(components: dict, x0: torch.Tensor, prompts: Sequence[str], timesteps: Sequence[int],
            seed: int) -> dict[int, float]:
    """denoising_loss of already encoded images `x0`."""
    unet, sched = components["unet"], components["scheduler"]
    emb = text_embeddings(components, list(prompts))
    out = {}
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(int(seed) * 1009 + int(t))).to(x0.device)
        tt = torch.full((len(x0),), int(t), device=x0.device)
        pred = unet(unet_input(components, sched.add_noise(x0, noise, tt)), tt, encoder_hidden_states=emb).sample
        out[int(t)] = float((pred.float() - prediction_target(sched, x0, noise, tt)).pow(2).mean())
    return out


@torch.no_grad()
def caption_use(components: dict, scenes: Sequence[Scene], images: np.ndarray, timesteps=(500, 700, 850, 950),
                seed: int = 0) -> dict[str, dict[int, float]]:
    """Denoising loss with the own caption, with each attribute of ATTRIBUTES altered, and with the empty
    caption: {"own" | attribute | "empty": {t: loss}}. Use of a word = its row minus "own". The images are
    encoded once; every variant sees the same noisy images."""
    variants = {"own": [caption(s) for s in scenes],
                **{a: [caption(altered(s, a)) for s in scenes] for a in ATTRIBUTES}, "empty": [""] * len(scenes)}
    x0 = encode_images(components, images).to(components["unet"].device)
    return {name: _losses(components, x0, prompts, timesteps, seed) for name, prompts in variants.items()}
