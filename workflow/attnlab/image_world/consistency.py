"""Generation that keeps subjects consistent with reference images: the plain pass that draws the
references and the target, the subject masks read from those drawings (the detector + segmenter
stand-in), and the IR-Diffusion pass with the requested switches on the same noise."""

from __future__ import annotations

import numpy as np

from attnlab.diffusion.ir_attention import generate_consistent
from attnlab.diffusion.sample import generate
from attnlab.image_world.masks import subject_masks
from attnlab.seeds import derive_seed
from attnlab.world.scene import Scene

# Sequence mode: one reference (the whole subject region), so isolation has nothing to isolate.
SEQUENCE_SWITCHES = {"share": True, "isolate": False, "reposition": True}


def plain(components, prompts: list[str], seeds: list[int], sampling: dict) -> list[np.ndarray]:
    return list(generate(components, prompts, seeds, steps=int(sampling["steps"]),
                         guidance=float(sampling["guidance"])))


def masks_of(images: list[np.ndarray], expected: list[Scene]):
    """Per image: (masks, boxes, found) of its expected subjects, read from the drawing."""
    return [subject_masks(img, scene) for img, scene in zip(images, expected)]


def union(masks: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All subjects of an image as one region (sequence mode: one reference region per frame);
    the whole frame when there is no subject."""
    if len(masks) == 0:
        h, w = masks.shape[1:] if masks.ndim == 3 else (0, 0)
        return np.ones((1, h, w), bool), np.array([[0, 0, w, h]])
    m = masks.any(axis=0, keepdims=True)
    b = np.array([[boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]])
    return m, b


def shared(components, ref_prompts: list[str], ref_seeds: list[int], target_prompt: str, target_seed: int,
           ref_regions: list[tuple[np.ndarray, np.ndarray]], target_region: tuple[np.ndarray, np.ndarray],
           switches: dict, settings: dict, sampling: dict, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """References and target regenerated together with IR attention. ref_regions[i] = (mask (H, W),
    box) of reference i's subject; target_region = (masks (n, H, W), boxes (n, 4)) of the target's
    subjects, subject i matching reference i."""
    ref_masks = np.stack([m for m, _ in ref_regions])
    ref_boxes = np.stack([b for _, b in ref_regions])
    refs, target = generate_consistent(
        components, ref_prompts, target_prompt, ref_masks, target_region[0], ref_boxes, target_region[1],
        variant={**switches, "layers": settings["layers"], "token_dropout": settings["token_dropout"],
                 "ref_bias": settings["ref_bias"]},
        seed=seed, ref_seeds=ref_seeds, target_seed=target_seed,
        steps=int(sampling["steps"]), guidance=float(sampling["guidance"]))
    return list(refs), target


def expected_or_parsed(image: np.ndarray, scene: Scene | None) -> Scene:
    """The scene an image should show, or (real data without ground truth) what it shows."""
    from attnlab.world.parser import parse

    return scene if scene is not None else parse(image)


def from_reference(components, ref_prompt: str, ref_seed: int, ref_scene: Scene | None, prompts: list[str],
                   seeds: list[int], scenes: list[Scene | None], settings: dict, sampling: dict,
                   seed: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Sequence mode (MuCR effect from its cause; Envision frames 2-4 from frame 1): draw the
    reference and each target plainly, then redraw each target sharing attention with the reference
    inside the subjects' regions (share + reposition; one reference, so isolation has no role).
    Returns (reference image, plain targets, consistent targets)."""
    drawn = plain(components, [ref_prompt, *prompts], [ref_seed, *seeds], sampling)
    ref_img, targets = drawn[0], drawn[1:]
    ref_m = subject_masks(ref_img, expected_or_parsed(ref_img, ref_scene))
    ref_region = union(ref_m[0], ref_m[1])
    consistent = []
    for j, (img, prompt, s, scene) in enumerate(zip(targets, prompts, seeds, scenes)):
        m = subject_masks(img, expected_or_parsed(img, scene))
        region = union(m[0], m[1])
        _, target = shared(components, [ref_prompt], [ref_seed], prompt, s,
                           [(ref_region[0][0], ref_region[1][0])], region, SEQUENCE_SWITCHES, settings,
                           sampling, seed=derive_seed(seed, "dropout", j))
        consistent.append(target)
    return ref_img, targets, consistent
