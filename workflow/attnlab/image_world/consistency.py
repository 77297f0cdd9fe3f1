"""Generation that keeps subjects consistent with reference images (attnlab.diffusion.ir_attention):
the plain pass that draws references and target from one shared initial noise, the subject masks
read from those drawings (the detector + segmenter stand-in), and the IR-Diffusion pass with the
requested switches on the same noise — for multi-subject cases and for sequences (MuCR pairs,
Envision frames) that share with their first frame."""

from __future__ import annotations

import numpy as np

from attnlab.diffusion.ir_attention import generate_consistent, generate_sequence
from attnlab.diffusion.sample import generate
from attnlab.image_world.masks import subject_masks
from attnlab.world.parser import parse
from attnlab.world.scene import Scene

# Sequence mode: the whole subject region of frame 1 is the one reference, so isolation has
# nothing to isolate; reposition follows subjects that move or change size.
SEQUENCE_SWITCHES = {"share": True, "isolate": False, "reposition": True}


def ir_variant(switches: dict, settings: dict) -> dict:
    return {**switches, "token_dropout": float(settings["token_dropout"]), "ref_bias": float(settings["ref_bias"])}


def plain(components, prompts: list[str], seed: int, sampling: dict) -> list[np.ndarray]:
    """Every prompt drawn from the same initial noise (`seed`), as the IR passes draw them."""
    return list(generate(components, prompts, [seed] * len(prompts), steps=int(sampling["steps"]),
                         guidance=float(sampling["guidance"])))


def regions(image: np.ndarray, expected: Scene | None) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Subject masks and boxes of a drawing: of the expected subjects, or (real data without ground
    truth) of whatever the parser finds."""
    return subject_masks(image, expected if expected is not None else parse(image))


def union(masks: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """All subjects of an image as one region; the whole frame when there is no subject."""
    if len(masks) == 0 or not masks.any():
        h, w = shape
        return np.ones((h, w), bool), (0, 0, w, h)
    return masks.any(axis=0), (int(boxes[:, 0].min()), int(boxes[:, 1].min()),
                               int(boxes[:, 2].max()), int(boxes[:, 3].max()))


def multi_subject(components, ref_prompts: list[str], target_prompt: str, ref_scenes: list[Scene],
                  target_scene: Scene, variants: dict[str, dict | None], settings: dict, sampling: dict,
                  seed: int) -> tuple[dict, list[bool]]:
    """IR-Diffusion on one case: {variant: (reference images, target image)} and, per subject,
    whether the parser found it in the plain target (else its layout mask stood in)."""
    k = len(ref_prompts)
    drawn = plain(components, [*ref_prompts, target_prompt], seed, sampling)
    ref_regions = [regions(img, scene) for img, scene in zip(drawn[:k], ref_scenes)]
    t_masks, t_boxes, found = regions(drawn[k], target_scene)
    out = {}
    for name, switches in variants.items():
        if switches is None:
            out[name] = (drawn[:k], drawn[k])
            continue
        refs, target = generate_consistent(
            components, ref_prompts, target_prompt, [r[0][0] for r in ref_regions], list(t_masks),
            [tuple(r[1][0]) for r in ref_regions], [tuple(b) for b in t_boxes],
            variant=ir_variant(switches, settings), seed=seed, steps=int(sampling["steps"]),
            guidance=float(sampling["guidance"]), layers=settings["layers"])
        out[name] = (list(refs), target)
    return out, found


def sequence(components, prompts: list[str], scenes: list[Scene | None], settings: dict, sampling: dict,
             seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(plain frames, consistent frames) of one sequence from one shared noise: frame 1 is the same in
    both; the consistent frames 2.. share attention with frame 1 inside the subjects' region."""
    drawn = plain(components, prompts, seed, sampling)
    masks, boxes = [], []
    for img, scene in zip(drawn, scenes):
        m, b, _ = regions(img, scene)
        u, box = union(m, b, img.shape[:2])
        masks.append([u])
        boxes.append([box])
    consistent = generate_sequence(components, prompts, masks, boxes,
                                   variant=ir_variant(SEQUENCE_SWITCHES, settings), seed=seed,
                                   steps=int(sampling["steps"]), guidance=float(sampling["guidance"]),
                                   reference="first", layers=settings["layers"])
    return drawn, list(consistent)
