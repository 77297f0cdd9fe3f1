"""Generation with IR-Diffusion's attention (arXiv 2411.19261): a multi-subject batch regenerated
consistently with its references, its references alone, and sequences of frames.

The processors and their state are attnlab.diffusion.ir_attention; sampling is
attnlab.diffusion.sample. Each call installs the IR processors on the chosen layers, samples, and
puts the UNet's previous processors back.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from attnlab import AttnlabError
from attnlab.diffusion.ir_attention import Box, attention_kwargs, install, variant_state
from attnlab.diffusion.sample import ddim_scheduler, encode_images, generate, initial_noise


def generate_consistent(components: dict, ref_prompts: Sequence[str], target_prompt: str,
                        ref_masks: Sequence[np.ndarray | None], target_masks: Sequence[np.ndarray],
                        ref_boxes: Sequence[Box | None] | None = None, target_boxes: Sequence[Box | None] | None = None,
                        variant: dict | None = None, seed: int = 0, steps: int = 20, guidance: float = 3.0,
                        layers: str | Sequence[str] = "decoder", ref_images: np.ndarray | None = None,
                        subject_refs: Sequence[int | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Generate the batch [ref_1 .. ref_n, target] from one shared initial noise (`seed`) with IR
    attention in the chosen layers; returns (reference images (n, H, W, 3), target image (H, W, 3)).

    The references attend only to themselves, so they equal `reference_images(...)` with the same
    prompts and seed: generate them first, segment them, then pass their masks here. With `ref_images`
    given (sequence mode, e.g. the previous frame or the cause image), the references are not generated:
    at every step their slots hold the given images noised to that step with the shared noise.
    A vanilla variant (all switches off) gives the plain target for that noise."""
    n = len(ref_prompts)
    state = variant_state(variant, n_refs=n, ref_masks=ref_masks, target_masks=target_masks,
                          ref_boxes=ref_boxes, target_boxes=target_boxes, subject_refs=subject_refs, seed=seed)
    noise = initial_noise(components, [seed] * (n + 1))
    hook = None
    if ref_images is not None:
        ref_images = np.asarray(ref_images)
        if len(ref_images) != n:
            raise AttnlabError(f"IR attention: {len(ref_images)} reference images for {n} reference prompts")
        x0 = encode_images(components, ref_images)
        sched = ddim_scheduler(components)

        def hook(i, t, latents):
            latents = latents.clone()
            latents[:n] = sched.add_noise(x0.to(latents.device), noise[:n].to(latents.device),
                                          torch.full((n,), int(t), device=latents.device))
            return latents

    unet = components["unet"]
    saved = unet.attn_processors
    install(unet, layers)
    try:
        images = generate(components, [*ref_prompts, target_prompt], seed=seed, steps=steps, guidance=guidance,
                          cross_attention_kwargs=attention_kwargs(state), init_noise=noise, latent_hook=hook)
    finally:
        unet.set_attn_processor(saved)
    refs = ref_images if ref_images is not None else images[:n]
    return refs, images[n]


def reference_images(components: dict, ref_prompts: Sequence[str], seed: int, steps: int = 20,
                     guidance: float = 3.0) -> np.ndarray:
    """The references exactly as generate_consistent draws them (shared noise from `seed`), for
    segmenting before the consistent pass."""
    return generate(components, list(ref_prompts), seed=[seed] * len(ref_prompts), steps=steps, guidance=guidance)


def generate_sequence(components: dict, prompts: Sequence[str], masks: Sequence[Sequence[np.ndarray]],
                      boxes: Sequence[Sequence[Box | None]] | None = None, variant: dict | None = None,
                      seed: int = 0, steps: int = 20, guidance: float = 3.0, reference: str = "first",
                      links: Sequence[Sequence[int | None]] | None = None,
                      layers: str | Sequence[str] = "decoder") -> np.ndarray:
    """Frames (F, H, W, 3) of a sequence (Envision stages, MuCR cause -> effect) from one shared noise.

    Frame 0 is generated plainly; frame k > 0 is the target of generate_consistent with one reference:
    frame 0 (`reference="first"`) or frame k-1 ("previous"), given as an image. `masks[k]` lists frame
    k's subject masks; `links[k][i]` names the reference frame's subject that subject i continues
    (default: the same index when the reference has it; None: not shared, still isolated)."""
    if reference not in ("first", "previous"):
        raise AttnlabError(f"sequence reference must be 'first' or 'previous', got {reference!r}")
    if len(masks) != len(prompts):
        raise AttnlabError(f"sequence: {len(masks)} mask lists for {len(prompts)} prompts")
    frames = [generate(components, [prompts[0]], seed=[seed], steps=steps, guidance=guidance)[0]]
    for k in range(1, len(prompts)):
        r = 0 if reference == "first" else k - 1
        n_ref = len(masks[r])
        link = (list(links[k]) if links is not None else
                [i if i < n_ref else None for i in range(len(masks[k]))])
        ref_masks = [masks[r][j] if j is not None else None for j in link]
        ref_boxes = tgt_boxes = None
        if boxes is not None:
            ref_boxes = [boxes[r][j] if j is not None else None for j in link]
            tgt_boxes = list(boxes[k])
        _, img = generate_consistent(
            components, [prompts[r]], prompts[k], ref_masks, list(masks[k]), ref_boxes, tgt_boxes,
            variant=variant, seed=seed, steps=steps, guidance=guidance, layers=layers,
            ref_images=frames[r][None], subject_refs=[0 if j is not None else None for j in link])
        frames.append(img)
    return np.stack(frames)
