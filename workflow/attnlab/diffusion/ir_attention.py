"""IR-Diffusion (arXiv 2411.19261) as diffusers attention processors: sharing, isolation, reposition.

The batch is [ref_1 .. ref_n, target] (twice under classifier-free guidance: [uncond group, cond group]).
References attend to themselves as usual. In the self-attention (attn1) layers chosen at `install`,
the target's queries attend to the target's own keys plus, per subject i, a block of reference keys:

- share: a target query inside subject i's target mask also attends to reference r(i)'s keys inside
  subject i's reference mask (a random `token_dropout` share of those keys is dropped each call, and
  `ref_bias` is added to their logits);
- isolate: a target query inside subject i's mask may not attend to target keys inside subject j's
  mask (j != i);
- reposition: before the keys/values are computed, reference i's features are cropped from its
  reference box and nearest-neighbour resized into the target box (and so is its mask), so a subject
  drawn at another place or scale is aligned with the target. (Self-attention keys carry no
  positional encoding, so a pure move changes nothing by itself: what matters is the relocated mask
  and the rescale, which repeats or drops reference tokens to match the target's subject area.)

Masks are given at image resolution and brought to each layer's grid by area coverage: a cell belongs
to subject i when at least half of it is covered (a subject too small for that keeps its best-covered
cell); in the target, each cell belongs to at most one subject (the best-covered), so isolation never
blocks a query from its own cell. With all switches off the processor equals diffusers' default
attention (tested). The state reaches the processors as cross_attention_kwargs={"ir_state": state}
(`attention_kwargs`); every attention module gets a processor that names `ir_state` (diffusers drops
unnamed kwargs). Generation with these processors is attnlab.diffusion.generate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from attnlab import AttnlabError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive
LAYER_CHOICES = ("decoder", "encoder", "mid", "all")
VARIANT_KEYS = ("share", "isolate", "reposition", "token_dropout", "ref_bias")


@dataclass
class IRState:
    """Switches and subject geometry for one IR-Diffusion generation.

    Per subject i (lists of equal length): `target_masks[i]` (H, W) bool in the target image,
    `ref_masks[i]` (H, W) bool in its reference image `subject_refs[i]` (default: reference i; None:
    the subject is isolated but shares with no reference), boxes (x0, y0, x1, y1; exclusive ends;
    None: the mask's bounding box). `capture=True` keeps each layer's target attention probabilities
    in `captured` (for analysis and tests)."""

    share: bool = False
    isolate: bool = False
    reposition: bool = False
    n_refs: int = 0
    ref_masks: Sequence[np.ndarray | None] | None = None
    target_masks: Sequence[np.ndarray] | None = None
    ref_boxes: Sequence[Box | None] | None = None
    target_boxes: Sequence[Box | None] | None = None
    token_dropout: float = 0.5
    ref_bias: float = 0.0
    seed: int = 0
    subject_refs: Sequence[int | None] | None = None
    capture: bool = False
    captured: dict = field(default_factory=dict, repr=False)
    _gen: torch.Generator | None = field(default=None, repr=False)
    _grids: dict = field(default_factory=dict, repr=False)

    @property
    def active(self) -> bool:
        return bool(self.share or self.isolate)

    def n_subjects(self) -> int:
        return len(self.target_masks or [])

    def ref_of(self, i: int) -> int | None:
        if self.subject_refs is None:
            return i if i < self.n_refs else None
        return self.subject_refs[i]

    def validate(self) -> None:
        n = self.n_subjects()
        if self.active and n == 0:
            raise AttnlabError("IR attention: share/isolate need target_masks (one per subject)")
        if self.share and (self.ref_masks is None or len(self.ref_masks) != n):
            raise AttnlabError(f"IR attention: share needs one reference mask per subject ({n})")
        for i in range(n):
            r = self.ref_of(i)
            if r is not None and not 0 <= r < self.n_refs:
                raise AttnlabError(f"IR attention: subject {i} refers to reference {r}, have {self.n_refs}")
        if not 0.0 <= self.token_dropout < 1.0:
            raise AttnlabError(f"IR attention: token_dropout must be in [0, 1), got {self.token_dropout}")

    def generator(self) -> torch.Generator:
        if self._gen is None:
            self._gen = torch.Generator().manual_seed(int(self.seed))
        return self._gen


# ---------------------------------------------------------------- geometry on a layer's grid


def mask_box(mask: np.ndarray) -> Box:
    """Bounding box (x0, y0, x1, y1), exclusive ends, of a non-empty boolean mask."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise AttnlabError("IR attention: empty subject mask")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def coverage(mask: np.ndarray, h: int, w: int) -> torch.Tensor:
    """Fraction of each (h, w) grid cell that the (H, W) mask covers."""
    m = torch.as_tensor(np.asarray(mask), dtype=torch.float32)[None, None]
    return F.adaptive_avg_pool2d(m, (h, w))[0, 0]


def grid_mask(mask: np.ndarray, h: int, w: int) -> torch.Tensor:
    """(h, w) bool: cells at least half covered by the mask; the best-covered cell when none is."""
    cov = coverage(mask, h, w)
    out = cov >= 0.5
    if not out.any() and cov.max() > 0:
        out = cov == cov.max()
    return out


def target_labels(masks: Sequence[np.ndarray], h: int, w: int) -> torch.Tensor:
    """(h, w) long: for each cell the subject that owns it (best coverage among those whose
    grid_mask holds it), -1 for background. Exclusive, so each cell has one owner."""
    if not masks:
        return torch.full((h, w), -1, dtype=torch.long)
    cov = torch.stack([coverage(m, h, w) for m in masks])
    held = torch.stack([grid_mask(m, h, w) for m in masks])
    cov = torch.where(held, cov, torch.full_like(cov, -1.0))
    best = cov.argmax(0)
    return torch.where(held.any(0), best, torch.full_like(best, -1))


def to_grid_box(box: Box, H: int, W: int, h: int, w: int) -> Box:
    """A pixel box on an (H, W) image as cells of an (h, w) grid (outward rounding, never empty)."""
    x0, y0, x1, y1 = box
    gx0, gy0 = int(np.floor(x0 * w / W)), int(np.floor(y0 * h / H))
    gx1, gy1 = int(np.ceil(x1 * w / W)), int(np.ceil(y1 * h / H))
    gx0, gy0 = min(max(gx0, 0), w - 1), min(max(gy0, 0), h - 1)
    return gx0, gy0, max(min(gx1, w), gx0 + 1), max(min(gy1, h), gy0 + 1)


def nearest_index(src0: int, src1: int, dst0: int, dst1: int) -> torch.Tensor:
    """For each destination position in [dst0, dst1), the nearest source position in [src0, src1)."""
    n_dst, n_src = dst1 - dst0, src1 - src0
    pos = (torch.arange(n_dst, dtype=torch.float64) + 0.5) * n_src / n_dst
    return (src0 + pos.floor().long()).clamp(src0, src1 - 1)


def reposition_map(features: torch.Tensor, src: Box, dst: Box, fill: float = 0.0) -> torch.Tensor:
    """Nearest-neighbour crop of `features` (h, w, ...) inside the src box, resized into the dst box of
    an otherwise `fill`-valued map of the same shape. Boxes are grid cells (x0, y0, x1, y1), exclusive."""
    out = torch.full_like(features, fill)
    sx0, sy0, sx1, sy1 = src
    dx0, dy0, dx1, dy1 = dst
    iy = nearest_index(sy0, sy1, dy0, dy1).to(features.device)
    ix = nearest_index(sx0, sx1, dx0, dx1).to(features.device)
    out[dy0:dy1, dx0:dx1] = features[iy][:, ix]
    return out


def reposition_mask(mask: np.ndarray, src: Box, dst: Box) -> np.ndarray:
    """The image-resolution mask moved from its src box into the dst box (nearest neighbour)."""
    m = torch.as_tensor(np.asarray(mask, dtype=bool))
    return reposition_map(m, src, dst, fill=False).numpy()


def grid_shape(length: int, H: int, W: int) -> tuple[int, int]:
    """The (h, w) grid with h * w == length and the aspect ratio of an (H, W) image."""
    h = int(round(np.sqrt(length * H / W)))
    w = length // max(h, 1)
    if h * w != length:
        raise AttnlabError(f"IR attention: {length} tokens do not form a grid with the masks' aspect {H}x{W}")
    return h, w


@dataclass
class _Geometry:
    labels: torch.Tensor  # (L,) owner subject of each target cell, -1 background
    ref_keys: list  # per subject: (L,) bool allowed reference keys (None: no sharing)
    ref_boxes: list  # per subject: (src grid box, dst grid box) for reposition, or None
    h: int
    w: int


def _geometry(state: IRState, length: int) -> _Geometry:
    if length in state._grids:
        return state._grids[length]
    masks = [np.asarray(m, dtype=bool) for m in state.target_masks]
    H, W = masks[0].shape
    h, w = grid_shape(length, H, W)
    labels = target_labels(masks, h, w).reshape(-1)
    ref_keys, boxes = [], []
    for i in range(state.n_subjects()):
        r = state.ref_of(i)
        rmask = None if state.ref_masks is None else state.ref_masks[i]
        if not state.share or r is None or rmask is None:
            ref_keys.append(None), boxes.append(None)
            continue
        rmask = np.asarray(rmask, dtype=bool)
        if not rmask.any() or not masks[i].any():  # nothing to share (e.g. the subject was not found)
            ref_keys.append(None), boxes.append(None)
            continue
        if state.reposition:
            src = (state.ref_boxes[i] if state.ref_boxes and state.ref_boxes[i] is not None else mask_box(rmask))
            dst = (state.target_boxes[i] if state.target_boxes and state.target_boxes[i] is not None
                   else mask_box(masks[i]))
            rmask = reposition_mask(rmask, src, dst)
            boxes.append((to_grid_box(src, H, W, h, w), to_grid_box(dst, H, W, h, w)))
        else:
            boxes.append(None)
        ref_keys.append(grid_mask(rmask, h, w).reshape(-1))
    geo = _Geometry(labels, ref_keys, boxes, h, w)
    state._grids[length] = geo
    return geo


# ---------------------------------------------------------------- processors


def _project(attn, hidden_states: torch.Tensor, temb=None):
    """diffusers' input handling: (B, L, C) tokens (4-D inputs flattened), after spatial/group norm."""
    input_ndim = hidden_states.ndim
    shape = hidden_states.shape
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    if input_ndim == 4:
        b, c, hh, ww = hidden_states.shape
        hidden_states = hidden_states.view(b, c, hh * ww).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    return hidden_states, input_ndim, shape


def _finish(attn, out: torch.Tensor, residual: torch.Tensor, input_ndim: int, shape) -> torch.Tensor:
    out = attn.to_out[1](attn.to_out[0](out))
    if input_ndim == 4:
        out = out.transpose(-1, -2).reshape(shape)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor


def _heads(attn, x: torch.Tensor) -> torch.Tensor:
    b, n, inner = x.shape
    return x.view(b, n, attn.heads, inner // attn.heads).transpose(1, 2)


class PassThroughProcessor:
    """diffusers' default scaled-dot-product attention that accepts (and ignores) `ir_state`."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 ir_state: IRState | None = None):
        from diffusers.models.attention_processor import AttnProcessor2_0

        return AttnProcessor2_0()(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class IRAttnProcessor:
    """Self-attention (attn1) processor implementing sharing, isolation and reposition (see module doc)."""

    def __init__(self, name: str = ""):
        self.name = name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 ir_state: IRState | None = None):
        if ir_state is None or not ir_state.active or encoder_hidden_states is not None:
            return PassThroughProcessor()(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if attention_mask is not None:
            raise AttnlabError("IR attention does not support an attention_mask in self-attention")
        residual = hidden_states
        x, input_ndim, shape = _project(attn, hidden_states, temb)
        B, L, _ = x.shape
        group = ir_state.n_refs + 1
        if B % group:
            raise AttnlabError(f"IR attention: batch of {B} is not a multiple of n_refs + 1 = {group}")
        q, k, v = _heads(attn, attn.to_q(x)), _heads(attn, attn.to_k(x)), _heads(attn, attn.to_v(x))
        out = F.scaled_dot_product_attention(q, k, v)  # references (and the default for the target)
        if attn.norm_q is not None or attn.norm_k is not None:
            raise AttnlabError("IR attention does not support q/k norms")
        geo = _geometry(ir_state, L)
        dev, dtype = q.device, q.dtype
        labels = geo.labels.to(dev)
        for g in range(B // group):
            t = g * group + ir_state.n_refs
            keys, values, bias = [k[t]], [v[t]], [self._self_bias(ir_state, labels, dtype)]
            for i, allowed in enumerate(geo.ref_keys):
                if allowed is None:
                    continue
                r = g * group + ir_state.ref_of(i)
                if geo.ref_boxes[i] is not None:  # reposition the reference features before K/V
                    src, dst = geo.ref_boxes[i]
                    feats = reposition_map(x[r].view(geo.h, geo.w, -1), src, dst).view(L, -1)
                    kr, vr = _heads(attn, attn.to_k(feats)[None])[0], _heads(attn, attn.to_v(feats)[None])[0]
                else:
                    kr, vr = k[r], v[r]
                keep = allowed.clone()
                if ir_state.token_dropout > 0:
                    keep &= torch.rand(L, generator=ir_state.generator()) >= ir_state.token_dropout
                ok = (labels == i)[:, None] & keep.to(dev)[None, :]
                b = torch.full((L, L), float("-inf"), dtype=dtype, device=dev)
                b[ok] = ir_state.ref_bias
                keys.append(kr), values.append(vr), bias.append(b)
            K, V, Bias = torch.cat(keys, 1), torch.cat(values, 1), torch.cat(bias, 1)
            if ir_state.capture:
                probs = ((q[t] @ K.transpose(-1, -2)) * attn.scale + Bias).softmax(-1)
                out[t] = probs @ V
                ir_state.captured.setdefault(self.name, []).append(probs.detach().clone())
            else:  # every query keeps at least its own cell, so no row is fully masked
                out[t] = F.scaled_dot_product_attention(q[t], K, V, attn_mask=Bias, scale=attn.scale)
        out = out.transpose(1, 2).reshape(B, L, -1).to(q.dtype)
        return _finish(attn, out, residual, input_ndim, shape)

    @staticmethod
    def _self_bias(state: IRState, labels: torch.Tensor, dtype) -> torch.Tensor:
        L = labels.numel()
        bias = torch.zeros((L, L), dtype=dtype, device=labels.device)
        if state.isolate:
            lq, lk = labels[:, None], labels[None, :]
            bias[(lq >= 0) & (lk >= 0) & (lq != lk)] = float("-inf")
        return bias


def _selected(name: str, layers: str | Sequence[str]) -> bool:
    if not name.endswith("attn1.processor"):
        return False
    if isinstance(layers, str):
        if layers not in LAYER_CHOICES:
            raise AttnlabError(f"IR attention layers must be one of {LAYER_CHOICES} or a list of names, got {layers!r}")
        prefix = {"decoder": ("up_blocks",), "encoder": ("down_blocks",), "mid": ("mid_block",),
                  "all": ("up_blocks", "down_blocks", "mid_block")}[layers]
        return name.startswith(prefix)
    return any(name.startswith(p) for p in layers)


def install(unet, layers: str | Sequence[str] = "decoder") -> list[str]:
    """Put IRAttnProcessor on the chosen self-attention layers ("decoder" = up blocks, "encoder",
    "mid", "all", or a list of module-name prefixes) and PassThroughProcessor everywhere else.
    Returns the names of the IR layers."""
    procs, chosen = {}, []
    for name in unet.attn_processors:
        if _selected(name, layers):
            procs[name] = IRAttnProcessor(name)
            chosen.append(name)
        else:
            procs[name] = PassThroughProcessor()
    if not chosen:
        raise AttnlabError(f"IR attention: no self-attention layer matches layers={layers!r}")
    unet.set_attn_processor(procs)
    return chosen


def uninstall(unet) -> None:
    """Back to diffusers' default scaled-dot-product attention everywhere."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0())


# ---------------------------------------------------------------- state from a variant


def variant_state(variant: dict | None, **geometry) -> IRState:
    """An IRState from a variant dict (keys share, isolate, reposition, token_dropout, ref_bias)."""
    variant = dict(variant or {})
    unknown = sorted(set(variant) - set(VARIANT_KEYS))
    if unknown:
        raise AttnlabError(f"unknown IR variant keys {unknown} (known: {list(VARIANT_KEYS)})")
    state = IRState(**{k: variant[k] for k in VARIANT_KEYS if k in variant}, **geometry)
    state.validate()
    return state


def attention_kwargs(state: IRState) -> dict:
    """The sampler's cross_attention_kwargs that hand `state` to every installed processor."""
    return {"ir_state": state}
