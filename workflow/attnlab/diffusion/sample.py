"""DDIM sampling with classifier-free guidance, in pixel space or (with a vae) in latent space.

Batch layout under guidance: [unconditional items..., conditional items...] (the diffusers
convention), so attention processors see the prompt batch twice, in order.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from attnlab.diffusion.model import pixel_patch, unet_input
from attnlab.diffusion.tokenizer import PAD_ID, encode
from attnlab.seeds import derive_seed


def latent_shape(components: dict) -> tuple[int, int, int]:
    """(C, h, w) of the UNet's sample: the image itself in pixel space, the vae latent otherwise (the
    UNet's output channels: its input may have more, model.unet_input)."""
    cfg = components["unet"].config
    size = cfg.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return int(cfg.out_channels), int(h), int(w)


def initial_noise(components: dict, seeds: Sequence[int]) -> torch.Tensor:
    """One standard-normal sample per seed, (B, C, h, w) float32; equal seeds give equal noise."""
    shape = latent_shape(components)
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def item_seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """Per-item seeds: a list is used as given; an int derives a distinct seed for each item."""
    if isinstance(seed, (list, tuple, np.ndarray)):
        if len(seed) != n:
            raise ValueError(f"{len(seed)} seeds for {n} prompts")
        return [int(s) for s in seed]
    return [derive_seed(int(seed), "noise", i) for i in range(n)]


@torch.no_grad()
def text_embeddings(components: dict, prompts: Sequence[str]) -> torch.Tensor:
    """The text encoder's last hidden state for each prompt, (B, max_length, width)."""
    enc = components["text_encoder"]
    ids = encode(components["tokenizer"], list(prompts)).to(enc.device)
    return enc(ids)[0]


def prompt_mask(components: dict, prompts: Sequence[str]) -> torch.Tensor:
    """(B, max_length) 1 for the prompt's tokens ([BOS] words [EOS]), 0 for the [PAD] tail."""
    return (encode(components["tokenizer"], list(prompts)) != PAD_ID).long()


def ddim_scheduler(components: dict):
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(components["scheduler"].config)


@torch.no_grad()
def decode(components: dict, latents: torch.Tensor) -> np.ndarray:
    """Latents (or pixels in [-1, 1], folded into channels when patch > 1) to uint8 images (B, H, W, 3)."""
    vae = components.get("vae")
    x = latents
    if vae is not None:
        x = vae.decode(latents / vae.config.scaling_factor).sample
    elif pixel_patch(components) > 1:
        x = torch.nn.functional.pixel_shuffle(x, pixel_patch(components))
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def encode_images(components: dict, images: np.ndarray) -> torch.Tensor:
    """uint8 images (B, H, W, 3) to the sampler's space: pixels in [-1, 1] (folded into
    channels when the UNet's patch > 1), or scaled vae latent means."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32).permute(0, 3, 1, 2) / 127.5 - 1
    vae = components.get("vae")
    if vae is not None:
        x = vae.encode(x.to(vae.device)).latent_dist.mean * vae.config.scaling_factor
    elif pixel_patch(components) > 1:
        x = torch.nn.functional.pixel_unshuffle(x, pixel_patch(components))
    return x


@torch.no_grad()
def generate(components: dict, prompts: Sequence[str], seed: int | Sequence[int], steps: int = 20,
             guidance: float = 3.0, cross_attention_kwargs: dict | None = None,
             init_noise: torch.Tensor | None = None,
             latent_hook: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
             progress: bool = False) -> np.ndarray:
    """Sample one image per prompt with DDIM (eta 0) and classifier-free guidance (`guidance` > 1 runs
    the unconditional branch with the empty prompt). Returns uint8 (B, H, W, 3).

    `seed`: an int (distinct derived noise per item) or one seed per item (equal seeds, equal noise);
    `init_noise` (B, C, h, w) overrides both. `cross_attention_kwargs` reach every attention processor
    unchanged (e.g. ir_attention.attention_kwargs(state) once its processors are installed).
    `latent_hook(i, t, latents) -> latents` may rewrite the latents before each denoising step."""
    from tqdm.auto import tqdm

    unet = components["unet"]
    prompts = list(prompts)
    n = len(prompts)
    sched = ddim_scheduler(components)
    sched.set_timesteps(steps)
    if init_noise is None:
        init_noise = initial_noise(components, item_seeds(seed, n))
    latents = init_noise.to(unet.device, torch.float32) * sched.init_noise_sigma
    cfg = guidance is not None and guidance > 1.0
    emb = text_embeddings(components, prompts)
    if cfg:
        emb = torch.cat([text_embeddings(components, [""] * n), emb])
    kw = {}
    if components.get("mask_padding"):
        kw["encoder_attention_mask"] = prompt_mask(components, ([""] * n if cfg else []) + prompts).to(unet.device)
    for i, t in enumerate(tqdm(sched.timesteps, desc="ddim", disable=not progress)):
        if latent_hook is not None:
            latents = latent_hook(i, t, latents)
        x = torch.cat([latents, latents]) if cfg else latents
        x = unet_input(components, sched.scale_model_input(x, t))
        eps = unet(x, t, encoder_hidden_states=emb, cross_attention_kwargs=cross_attention_kwargs, **kw).sample
        if cfg:
            uncond, cond = eps.chunk(2)
            eps = uncond + guidance * (cond - uncond)
        latents = sched.step(eps, t, latents).prev_sample
    return decode(components, latents)
