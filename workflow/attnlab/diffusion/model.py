"""The tiny text-to-image model: a diffusers UNet2DConditionModel and a transformers CLIPTextModel.

`build` makes a fresh pixel-space model; `save_pipeline` writes it in the Stable Diffusion folder
layout (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/; safetensors) and
`load_pipeline` reads any such folder with `from_pretrained(dir, subfolder=..., local_files_only=True)`.
A `vae/` subfolder (real Stable Diffusion 1.x/2.x folders) switches sampling to latent space.

Components are a plain dict: unet, text_encoder, tokenizer, scheduler, vae (None in pixel space).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from attnlab import AttnlabError
from attnlab.diffusion.tokenizer import BOS_ID, EOS_ID, PAD_ID, build_tokenizer

REQUIRED = ("unet", "text_encoder", "tokenizer", "scheduler")


@dataclass
class TinyT2IConfig:
    """Sizes of the tiny pixel-space model. `attention` says, per UNet level, whether that level has
    (self + cross) attention blocks; the mid block always has one when `mid_block` is true.
    `text_time_embedding` adds an attention-pooled text vector to the time embedding (diffusers'
    addition_embed_type="text"), so global attributes (background, colours) reach every resnet."""

    image_size: int = 32
    channels: int = 3
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64])
    attention: list[bool] = field(default_factory=lambda: [False, True])
    layers_per_block: int = 1
    mid_block: bool = True
    heads: int = 2
    norm_num_groups: int = 8
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate: int = 128
    max_length: int = 24
    text_time_embedding: bool = False
    text_time_heads: int = 4
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "epsilon"
    # patch > 1: the UNet works on the image folded patch x patch into channels (pixel unshuffle,
    # a fixed lossless "latent" of (3 * patch^2, size / patch, size / patch)); cheaper per call
    patch: int = 1
    # "scale_shift": the time (+ pooled text) embedding scales and shifts each resnet's normalised
    # features (AdaGN) instead of being added to them ("default")
    time_scale_shift: str = "default"
    # cross-attention sees only the prompt's tokens ([BOS] words [EOS]), not the [PAD] tail
    # (diffusers' encoder_attention_mask); recorded in model_index.json so sampling does the same
    mask_padding: bool = False
    # two more input channels holding each pixel's (x, y) in [-1, 1] (CoordConv): the UNet's features know
    # where they are, so a caption's position words can place a subject (diffusers' convolutions and
    # attention blocks carry no position otherwise); recorded in model_index.json like mask_padding
    coord_channels: bool = False

    @classmethod
    def from_dict(cls, d: dict | "TinyT2IConfig" | None) -> "TinyT2IConfig":
        """A config from a (possibly partial) dict; unknown keys raise AttnlabError naming them."""
        if isinstance(d, cls):
            return d
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise AttnlabError(f"unknown diffusion model config keys {unknown} (known: {sorted(names)})")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if len(self.attention) != len(self.block_out_channels):
            raise AttnlabError(f"diffusion model config: attention {self.attention} needs one flag per "
                               f"block_out_channels entry {self.block_out_channels}")
        for c in self.block_out_channels:
            if c % self.norm_num_groups or c % self.heads:
                raise AttnlabError(f"diffusion model config: channel width {c} must be divisible by "
                                   f"norm_num_groups={self.norm_num_groups} and heads={self.heads}")
        if self.patch < 1 or self.image_size % self.patch:
            raise AttnlabError(f"diffusion model config: patch {self.patch} must be >= 1 and divide image_size {self.image_size}")
        if self.time_scale_shift not in ("default", "scale_shift"):
            raise AttnlabError(f"diffusion model config: time_scale_shift must be default or scale_shift, got {self.time_scale_shift!r}")
        if (self.image_size // self.patch) % 2 ** (len(self.block_out_channels) - 1):
            raise AttnlabError(f"diffusion model config: image_size {self.image_size} must be divisible by "
                               f"2**{len(self.block_out_channels) - 1}")
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise AttnlabError(f"diffusion model config: unknown prediction_type {self.prediction_type!r}")
        if self.text_time_embedding and self.text_width % self.text_time_heads:
            raise AttnlabError(f"diffusion model config: text_width {self.text_width} not divisible by text_time_heads")
        if self.text_width % self.text_heads:
            raise AttnlabError(f"diffusion model config: text_width {self.text_width} not divisible by text_heads")


def build_unet(cfg: TinyT2IConfig):
    """A freshly initialised UNet2DConditionModel of `cfg` (also the UNet of a latent-space test model)."""
    from diffusers import UNet2DConditionModel

    down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention]
    up = ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention)]
    return UNet2DConditionModel(
        sample_size=cfg.image_size // cfg.patch, in_channels=cfg.channels * cfg.patch ** 2 + 2 * cfg.coord_channels,
        out_channels=cfg.channels * cfg.patch ** 2, resnet_time_scale_shift=cfg.time_scale_shift,
        down_block_types=tuple(down), up_block_types=tuple(up),
        mid_block_type="UNetMidBlock2DCrossAttn" if cfg.mid_block else None,
        block_out_channels=tuple(cfg.block_out_channels), layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups, cross_attention_dim=cfg.text_width,
        attention_head_dim=cfg.heads,  # diffusers' historical name: the number of heads
        addition_embed_type="text" if cfg.text_time_embedding else None,
        addition_embed_type_num_heads=cfg.text_time_heads,
    )


def _text_encoder(cfg: TinyT2IConfig, vocab_size: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=cfg.text_width, intermediate_size=cfg.text_intermediate,
        num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
        max_position_embeddings=cfg.max_length, projection_dim=cfg.text_width,
        pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID))


def _scheduler(cfg: TinyT2IConfig):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                         prediction_type=cfg.prediction_type, clip_sample=True, timestep_spacing="trailing")


def build(cfg: TinyT2IConfig | dict, words: list[str], seed: int) -> dict:
    """A freshly initialised pixel-space model (weights drawn from `seed`) with a word-level tokenizer
    over `words`. Returns dict(unet, text_encoder, tokenizer, scheduler, vae=None)."""
    import torch

    cfg = TinyT2IConfig.from_dict(cfg)
    tokenizer = build_tokenizer(list(words), cfg.max_length)
    torch.manual_seed(seed)
    unet = build_unet(cfg)
    text_encoder = _text_encoder(cfg, len(tokenizer))
    return {"unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer,
            "scheduler": _scheduler(cfg), "vae": None, "mask_padding": cfg.mask_padding,
            "coord_channels": cfg.coord_channels}


def prediction_target(scheduler, x0, noise, t):
    """What the UNet is trained to predict for clean x0 noised with `noise` at timesteps t: the noise
    (prediction_type "epsilon"), the velocity ("v_prediction") or x0 itself ("sample")."""
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        return scheduler.get_velocity(x0, noise, t)
    return x0 if kind == "sample" else noise


def unet_input(components: dict, sample):
    """What the UNet is called on: the (noisy) sample, with the two coordinate channels appended when
    the model has them (TinyT2IConfig.coord_channels)."""
    import torch

    if not components.get("coord_channels"):
        return sample
    b, _, h, w = sample.shape
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=sample.device, dtype=sample.dtype),
                            torch.linspace(-1, 1, w, device=sample.device, dtype=sample.dtype), indexing="ij")
    return torch.cat([sample, torch.stack([xs, ys]).expand(b, 2, h, w)], 1)


def n_parameters(components: dict) -> dict:
    """Parameter counts per trainable component."""
    return {k: sum(p.numel() for p in components[k].parameters())
            for k in ("unet", "text_encoder", "vae") if components.get(k) is not None}


def save_pipeline(components: dict, directory: str | os.PathLike) -> None:
    """Write the components in the Stable Diffusion folder layout (safetensors weights) into `directory`
    (written in place: wrap the call in attnlab.io.atomic_dir for an atomic result)."""
    import diffusers

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": "AttnlabTinyT2IPipeline", "_diffusers_version": diffusers.__version__}
    for name in (*REQUIRED, "vae"):
        comp = components.get(name)
        if comp is None:
            continue
        if name == "tokenizer":
            comp.save_pretrained(directory / name)
        elif name == "scheduler":
            comp.save_config(directory / name)
        else:
            comp.save_pretrained(directory / name, safe_serialization=True)
        lib = type(comp).__module__.split(".")[0]
        index[name] = [lib, "PreTrainedTokenizerFast" if name == "tokenizer" else type(comp).__name__]
    for key in ("mask_padding", "coord_channels"):
        if components.get(key):
            index[f"attnlab_{key}"] = True
    (directory / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def resolve_device(name: str):
    """The torch device of `name` ("auto": CUDA when a GPU is visible, else the CPU; "cpu"; "cuda[:i]"):
    an AttnlabError naming it when it is not a device or asks for a GPU that is not visible."""
    import torch

    from attnlab.train.trainer import pick_device

    try:
        device = pick_device(str(name))
    except RuntimeError as e:
        raise AttnlabError(f"diffusion device {name!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AttnlabError(f"diffusion device {name!r} asked for, but no GPU is visible")
    return device


def load_pipeline(directory: str | os.PathLike, device: str = "cpu") -> dict:
    """Read a Stable Diffusion layout folder (ours or a real SD 1.x/2.x one) from local files only,
    onto `device` ("cpu", "cuda[:i]", or "auto": CUDA when a GPU is visible).

    Raises AttnlabError naming the folder, or the missing subfolder, when it cannot be read."""
    import diffusers
    from transformers import AutoTokenizer, CLIPTextModel

    device = resolve_device(device)

    directory = Path(directory)
    if not directory.is_dir():
        raise AttnlabError(f"diffusion model folder not found: {directory}")
    for name in REQUIRED:
        if not (directory / name).is_dir():
            raise AttnlabError(f"diffusion model folder {directory} has no {name}/ subfolder "
                               f"(expected the Stable Diffusion layout: {', '.join(REQUIRED)}[, vae])")
    kw = {"subfolder": None, "local_files_only": True}

    def load(name, fn):
        try:
            return fn(str(directory), **{**kw, "subfolder": name})
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise AttnlabError(f"cannot load {directory / name}: {e}") from None

    sched_cfg = directory / "scheduler" / "scheduler_config.json"
    sched_name = "DDPMScheduler"
    if sched_cfg.is_file():
        try:
            sched_name = json.loads(sched_cfg.read_text()).get("_class_name", sched_name)
        except json.JSONDecodeError as e:
            raise AttnlabError(f"corrupt JSON file {sched_cfg}: {e}") from None
    sched_cls = getattr(diffusers, sched_name, diffusers.DDPMScheduler)
    comps = {
        "unet": load("unet", diffusers.UNet2DConditionModel.from_pretrained).to(device).eval(),
        "text_encoder": load("text_encoder", CLIPTextModel.from_pretrained).to(device).eval(),
        "tokenizer": load("tokenizer", AutoTokenizer.from_pretrained),
        "scheduler": load("scheduler", sched_cls.from_pretrained),
        "vae": None,
        "mask_padding": bool(_index(directory).get("attnlab_mask_padding", False)),
        "coord_channels": bool(_index(directory).get("attnlab_coord_channels", False)),
    }
    if (directory / "vae").is_dir():
        comps["vae"] = load("vae", diffusers.AutoencoderKL.from_pretrained).to(device).eval()
    return comps


def _index(directory: Path) -> dict:
    f = directory / "model_index.json"
    if not f.is_file():
        return {}
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise AttnlabError(f"corrupt JSON file {f}: {e}") from None


def image_size(components: dict) -> int:
    """Side of the generated images in pixels (the UNet's sample size, times the vae's downscale)."""
    size = components["unet"].config.sample_size
    size = size[0] if isinstance(size, (list, tuple)) else size
    vae = components.get("vae")
    if vae is not None:
        size *= 2 ** (len(vae.config.block_out_channels) - 1)
    return int(size) * pixel_patch(components)


def pixel_patch(components: dict) -> int:
    """The side of the pixel patches folded into channels (TinyT2IConfig.patch): 1 with a vae or an
    RGB UNet, else sqrt(out_channels / 3)."""
    if components.get("vae") is not None:
        return 1
    c = int(components["unet"].config.out_channels)
    p = int(round((c / 3) ** 0.5))
    if p * p * 3 != c:
        raise AttnlabError(f"pixel-space UNet with {c} output channels: not 3 * patch^2")
    return p
