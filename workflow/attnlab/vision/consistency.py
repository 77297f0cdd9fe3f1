"""Generation that keeps subjects consistent with reference images (attnlab.diffusion.generate).

Plain passes are batched across all cases of a step (the tiny UNet's cost is per call, not per
image); each item keeps its own initial noise, shared by its references and targets, so the IR
passes that follow draw on exactly that noise. Subject masks come from the plain drawings (the
detector + segmenter stand-in). Two modes:
- multi-subject cases (IR-Diffusion): the batch [ref_1 .. ref_n, target] regenerated together with
  the requested switches;
- sequences (MuCR cause -> effect, Envision frames 1 -> 2..4): each later frame shares attention
  with the plain first frame, given as an image, inside the subjects' region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlab.diffusion.generate import generate_consistent
from attnlab.diffusion.sample import generate
from attnlab.vision.masks import subject_masks
from attnlab.world.scene import Scene

BATCH = 32
# Sequence mode: the whole subject region of frame 1 is the one reference, so isolation has
# nothing to isolate; reposition follows subjects that move or change size.
SEQUENCE_SWITCHES = {"share": True, "isolate": False, "reposition": True}


@dataclass
class Item:
    """Prompts drawn from one initial noise (`seed`) with the scenes they should show (None: real
    data without ground truth). Multi-subject case: prompts = references then target."""

    prompts: list[str]
    scenes: list[Scene | None]
    seed: int


def ir_variant(switches: dict, settings: dict) -> dict:
    return {**switches, "token_dropout": float(settings["token_dropout"]), "ref_bias": float(settings["ref_bias"])}


def _sampling(sampling: dict) -> dict:
    return {"steps": int(sampling["steps"]), "guidance": float(sampling["guidance"])}


def plain(components, items: list[Item], sampling: dict) -> list[list[np.ndarray]]:
    """Every prompt of every item drawn plainly from its item's noise, BATCH images per call."""
    prompts = [p for it in items for p in it.prompts]
    seeds = [it.seed for it in items for _ in it.prompts]
    images = []
    for start in range(0, len(prompts), BATCH):
        images += list(generate(components, prompts[start:start + BATCH], seeds[start:start + BATCH],
                                **_sampling(sampling)))
    out, k = [], 0
    for it in items:
        out.append(images[k:k + len(it.prompts)])
        k += len(it.prompts)
    return out


def union(masks: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """All subjects of an image as one region; the whole frame when there is no subject."""
    if len(masks) == 0 or not masks.any():
        h, w = shape
        return np.ones((h, w), bool), (0, 0, w, h)
    return masks.any(axis=0), (int(boxes[:, 0].min()), int(boxes[:, 1].min()),
                               int(boxes[:, 2].max()), int(boxes[:, 3].max()))


def multi_subject(components, item: Item, drawn: list[np.ndarray], variants: dict[str, dict | None],
                  settings: dict, sampling: dict) -> tuple[dict, list[bool]]:
    """IR-Diffusion on one case given its plain drawing: {variant: (reference images, target)} and,
    per subject, whether the parser found it in the plain target (else its layout mask stood in)."""
    k = len(item.prompts) - 1
    ref_regions = [subject_masks(img, scene) for img, scene in zip(drawn[:k], item.scenes[:k])]
    t_masks, t_boxes, found = subject_masks(drawn[k], item.scenes[k])
    out = {}
    for name, switches in variants.items():
        if switches is None:
            out[name] = (drawn[:k], drawn[k])
            continue
        refs, target = generate_consistent(
            components, item.prompts[:k], item.prompts[k], [r[0][0] for r in ref_regions], list(t_masks),
            [tuple(r[1][0]) for r in ref_regions], [tuple(b) for b in t_boxes],
            variant=ir_variant(switches, settings), seed=item.seed, layers=settings["layers"],
            **_sampling(sampling))
        out[name] = (list(refs), target)
    return out, found


def sequence(components, item: Item, drawn: list[np.ndarray], settings: dict,
             sampling: dict) -> list[np.ndarray]:
    """The consistent frames of one sequence given its plain frames: frame 1 as drawn, each later
    frame redrawn on its noise sharing with frame 1 (given as an image) inside the subjects' region."""
    regs = []
    for img, scene in zip(drawn, item.scenes):
        m, b, _ = subject_masks(img, scene)
        regs.append(union(m, b, img.shape[:2]))
    frames = [drawn[0]]
    for k in range(1, len(drawn)):
        _, img = generate_consistent(
            components, [item.prompts[0]], item.prompts[k], [regs[0][0]], [regs[k][0]], [regs[0][1]],
            [regs[k][1]], variant=ir_variant(SEQUENCE_SWITCHES, settings), seed=item.seed,
            layers=settings["layers"], ref_images=np.asarray(drawn[0])[None], **_sampling(sampling))
        frames.append(img)
    return frames
