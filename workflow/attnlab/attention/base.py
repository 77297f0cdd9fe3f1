"""The one interface every attention mechanism implements.

`Attention` owns what all mechanisms share: the fused query/key/value projection, the output
projection, rotary positions, the scaled dot-product scores and the hook points. A mechanism is a
subclass that overrides a few small methods (diffusers-processor style, never a flag threaded
through this class):

- `prepare(ctx, input_ids)`: the context this layer sees for a batch (e.g. where its special
  tokens are); unchanged by default;
- `allowed(T, ctx)`: which (query, key) pairs may interact (`structure(T, ctx)` by default: the
  context's structure mask, or causal, within segments, without padding keys);
- `attend(q, k, v, ctx)`: scores -> pattern -> per-head outputs (softmax of `scores` by default);
  with per-query key positions (`ctx.key_positions`) k arrives rotated once per query,
  (batch, head, query, key, d_head): `scores` handles it, fused kernels must not be used;
- `positions(q, k, ctx)`: the context whose positions rotate this layer's q and k, given them
  unrotated (unchanged by default; PINE re-assigns key positions per query from q·k);
- `combine_heads(z, x, ctx)`: how per-head outputs are weighted before the output projection
  (plain concatenation by default; MoH gates them);
- `aux_loss()`: a weighted auxiliary training loss of the last forward pass, or None (default).

A KV cache (`ctx.cache`, a transformers `Cache`: generation feeds one new token at a time after the
prompt) is opt-in per mechanism: a class that sets `kv_cache = True` in its own body promises that
its methods take `ctx.past_len` cached keys before the queries (queries are the last positions);
every other mechanism refuses a cache, and the model then generates without one.

Hook points (TransformerLens names under `blocks.{i}.attn.`):
  hook_q, hook_k, hook_v   (batch, pos, head, d_head), before rotary positions
  hook_scores              (batch, head, query_pos, key_pos): the pre-softmax logits q·kᵀ/√d_head,
                           before masking (edit them to boost or suppress keys); every mechanism
                           whose pattern is a function of q·k logits fires it (softmax, sigmoid,
                           sliding_window, dynamic_mask, rcmha and those on the base attend), the
                           others (kernel, decay, Gaussian, span and slot mixers) have no such logits
  hook_pattern             (batch, head, query_pos, key_pos): the attention probabilities
  hook_z                   (batch, pos, head, d_head): per-head outputs before the output projection
Zero a head's slice of hook_z to ablate it (`attnlab.hooks.ablate_heads`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.hooks import HookPoint


@dataclass
class AttentionContext:
    """What every layer needs to know about the batch beyond the hidden states."""

    position_ids: torch.Tensor  # (batch, pos): what rotary embeddings rotate by
    key_padding: torch.Tensor | None = None  # (batch, pos) bool, True = a real token
    rope_theta: float | None = None  # None: no rotary positions (e.g. learned absolute ones)
    output_attentions: bool = False
    # which keys each query may see, in place of the causal pattern: (batch or 1, query, key) bool,
    # e.g. prefix_lm_mask (bidirectional prefix), or any pattern; None: causal
    structure_mask: torch.Tensor | None = None
    # (batch, pos) int: documents packed in one sequence; a query sees only keys of its own segment
    segment_ids: torch.Tensor | None = None
    # (batch, query, key) or (batch, head, query, key) int: the rotary position of key j as seen by
    # query i, which may differ per query (PINE re-assigns document positions per query); query i
    # itself stays at position_ids[:, i]. Rotary positions only; None: key j is at position_ids[:, j]
    key_positions: torch.Tensor | None = None
    # (batch, pos) int: what each token is (the VLM's TokenLayout: 0 BOS/text, 1 image, 2 question,
    # 3 answer); information for mechanisms (e.g. which keys are image tokens), never a mask by itself
    token_type: torch.Tensor | None = None
    # generation with a KV cache (a transformers Cache; None: none): the layers' keys and values of
    # the `past_len` earlier positions; the batch's tokens are the next ones, key_padding and
    # structure_mask then cover the past_len + pos keys
    cache: Any = None
    past_len: int = 0

    @property
    def plain_causal(self) -> bool:
        """The pattern is the plain causal one (fused kernels may use is_causal)."""
        return (self.structure_mask is None and self.segment_ids is None and self.key_padding is None
                and self.key_positions is None and self.past_len == 0)


def apply_rotary(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021, eq. 34) on (batch, head, pos, d_head), rotate-half form."""
    d = x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    angles = positions.to(torch.float32)[:, None, :, None] * inv_freq  # (batch, 1, pos, d/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def apply_rotary_per_query(k: torch.Tensor, key_positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Keys rotated once per query: (batch, head, key, d_head) k and (batch[, head], query, key)
    positions -> (batch, head, query, key, d_head), row i rotated as query i sees each key.
    `apply_rotary`'s arithmetic, so query i's scores are RoPE's q_i·R(p_i − P_ij)·k_j."""
    d = k.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, device=k.device, dtype=torch.float32) / d)
    pos = key_positions if key_positions.dim() == 4 else key_positions[:, None]  # (batch, 1|head, query, key)
    angles = pos.to(torch.float32)[..., None] * inv_freq  # (batch, 1|head, query, key, d/2)
    cos, sin = angles.cos().to(k.dtype), angles.sin().to(k.dtype)
    x1, x2 = k[:, :, None, :, : d // 2], k[:, :, None, :, d // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def causal_mask(T: int, device, past: int = 0) -> torch.Tensor:
    """(T, past + T) bool: query i (at position past + i) sees keys 0 .. past + i."""
    return torch.ones(T, past + T, dtype=torch.bool, device=device).tril(past)


def prefix_lm_mask(prefix_lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(batch, query, key) bool: bidirectional among the first prefix_lengths[b] tokens, causal
    after them (a prefix LM / encoder-decoder in one stack)."""
    i = torch.arange(T, device=prefix_lengths.device)
    in_prefix = i[None, :] < prefix_lengths[:, None]  # (batch, key)
    return causal_mask(T, prefix_lengths.device)[None] | (in_prefix[:, None, :] & in_prefix[:, :, None])


def segment_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(batch, query, key) bool: query and key belong to the same segment (document)."""
    return segment_ids[:, :, None] == segment_ids[:, None, :]


class Attention(nn.Module):
    """Causal softmax multi-head attention (GPT-2's, given learned positions): the base mechanism."""

    # whether `attend` takes keys rotated per query (ctx.key_positions): a mechanism whose keys are
    # shared by every query (a kernel feature map, slot summaries) cannot, and says False
    per_query_keys = True
    # whether this mechanism takes a KV cache (module docstring); opt-in: a subclass that does not
    # set it in its own body does not
    kv_cache = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kv_cache" not in cls.__dict__:
            cls.kv_cache = False

    def __init__(self, config, layer_idx: int = 0, **options):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd={config.n_embd} is not divisible by n_head={config.n_head}")
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")
        self.layer_idx = layer_idx
        self.n_head, self.d_model = config.n_head, config.n_embd
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_scores = HookPoint()
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()

    # --- what a mechanism overrides -------------------------------------------------------
    def prepare(self, ctx: AttentionContext, input_ids: torch.Tensor) -> AttentionContext:
        """The context this layer sees for a batch of `input_ids` (batch, pos); called by the model
        before the layers run. A mechanism that needs more (e.g. where its special tokens are)
        returns a context of its own, e.g. a dataclass extending AttentionContext."""
        return ctx

    def allowed(self, T: int, ctx: AttentionContext) -> torch.Tensor:
        """(batch or 1, 1, query, key) bool: which keys each query may attend to."""
        return self.structure(T, ctx)

    def structure(self, T: int, ctx: AttentionContext) -> torch.Tensor:
        """(batch or 1, 1, query, key) bool: the context's structure mask (causal when it has none),
        within segments, real keys only. Every mechanism's own restriction (a window, top-k keys,
        meta-tokens) is taken inside it."""
        base = (causal_mask(T, ctx.position_ids.device, ctx.past_len)[None] if ctx.structure_mask is None
                else ctx.structure_mask)
        mask = base[:, None]
        if ctx.segment_ids is not None:
            mask = mask & segment_mask(ctx.segment_ids)[:, None]
        if ctx.key_padding is not None:
            mask = mask & ctx.key_padding[:, None, None, :]
        return mask

    def positions(self, q: torch.Tensor, k: torch.Tensor, ctx: AttentionContext) -> AttentionContext:
        """The context whose positions (position_ids, key_positions) rotate this layer's q and k,
        (batch, head, pos, d_head) before rotation; the same context by default. For positions
        that depend on the layer's own queries and keys (PINE's re-assignment by importance)."""
        return ctx

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Scaled dot products q·kᵀ/√d_head (Vaswani et al. 2017, eq. 1): (batch, head, query, key).
        Keys rotated per query (batch, head, query, key, d_head) give each query its own row."""
        if k.dim() == q.dim() + 1:  # (batch, head, query, d) q against per-query keys
            return torch.einsum("bhqd,bhqkd->bhqk", q, k) / math.sqrt(self.head_dim)
        return (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)

    def pattern_asked(self, ctx: AttentionContext) -> bool:
        """Whether this call must compute the scores and pattern explicitly (a hook or
        output_attentions reads them); otherwise a fused kernel may do the work."""
        return self.hook_pattern.active or self.hook_scores.active or ctx.output_attentions

    def attend(self, q, k, v, ctx: AttentionContext):
        """(batch, head, pos, d_head) q, k, v -> per-head outputs of the same shape, and the pattern
        (or None when nobody asked for it and a fused kernel did the work)."""
        if not self.pattern_asked(ctx) and ctx.plain_causal:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True), None
        scores = self.hook_scores(self.scores(q, k))
        pattern = self.hook_pattern(masked_softmax(scores, self.allowed(q.shape[-2], ctx)))
        return pattern @ v, pattern

    def combine_heads(self, z, x, ctx: AttentionContext):
        """(batch, pos, head, d_head) -> (batch, pos, d_model), before the output projection."""
        return z.flatten(2)

    def aux_loss(self) -> torch.Tensor | None:
        """The mechanism's auxiliary loss from its last forward pass, already weighted; the model
        adds it to the language-modelling loss. None: the mechanism has none."""
        return None

    # --- shared plumbing ------------------------------------------------------------------
    def refuse_key_positions(self, ctx: AttentionContext) -> None:
        """A mechanism whose keys are shared among queries (kernels, slots, scans, mixers) cannot take
        per-query key positions: say so rather than ignore them."""
        if ctx.key_positions is not None and not self.per_query_keys:
            raise ValueError(f"attention {type(self).__name__} shares its keys among queries and cannot take "
                             "per-query key positions (AttentionContext.key_positions)")

    def forward(self, x: torch.Tensor, ctx: AttentionContext):
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, self.head_dim).unbind(2)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, d_head)
        ctx = self.positions(q, k, ctx)
        if ctx.rope_theta is not None and ctx.key_positions is not None:  # per-query key positions
            self.refuse_key_positions(ctx)
            q = apply_rotary(q, ctx.position_ids, ctx.rope_theta)
            k = apply_rotary_per_query(k, ctx.key_positions, ctx.rope_theta)  # (B, H, T, T, d_head)
        elif ctx.rope_theta is not None:
            q, k = (apply_rotary(t, ctx.position_ids, ctx.rope_theta) for t in (q, k))
        if ctx.cache is not None:
            if not self.kv_cache:
                raise ValueError(f"attention {type(self).__name__} does not take a KV cache (generate with use_cache=False)")
            k, v = ctx.cache.update(k, v, self.layer_idx)  # (B, H, past_len + T, d_head)
        z, pattern = self.attend(q, k, v, ctx)
        z = self.hook_z(z.transpose(1, 2))  # (B, T, H, d_head)
        return self.c_proj(self.combine_heads(z, x, ctx)), pattern

    def init_extra_parameters(self, init) -> None:
        """Initialise parameters that are not in a Linear/Embedding/LayerNorm (none here)."""

    def extra_repr(self) -> str:
        return f"layer={self.layer_idx}, heads={self.n_head}, d_head={self.head_dim}"


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax over allowed keys; a query with no allowed key gets an all-zero row (not NaN).

    Masked scores become the dtype's lowest finite value, whose exp underflows to exactly 0 beside
    any allowed score (the same numbers as −inf); an all-masked row is then uniform and gets zeroed.
    No branch on tensor values, so this runs under torch.func.vmap."""
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * allowed.any(-1, keepdim=True)
