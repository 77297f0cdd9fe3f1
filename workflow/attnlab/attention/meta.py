"""Meta-tokens with meta-attention (Shah et al. 2025, arXiv 2509.16278, Sec. 3).

After the ordinary causal attention of a layer, a meta-attention with its own weights runs on the
updated residual stream:   softmax(QKᵀ/√d + M + P) · V
where M is the causal mask and P is open only between meta-tokens (so only meta-token queries
attend, and only to earlier meta-tokens; other positions receive nothing from it). The layer's
output is the sum of both. With `zero_meta_positions`, meta-tokens get rotary position 0, i.e.
no positional rotation — the paper's "zeroing positional encoding at meta positions".
Meta-tokens (id `meta_token_id`, an option of this mechanism) are inserted into the data, not by
this module; `prepare` finds them in the input ids.
Hook points: the causal part's `hook_pattern`/`hook_z`, and `meta.hook_pattern`/`meta.hook_z`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnlab.attention.base import Attention, AttentionContext, masked_softmax


@dataclass
class MetaContext(AttentionContext):
    meta_positions: torch.Tensor | None = None  # (batch, pos) bool, True = a meta-token


class MetaOnlyAttention(Attention):
    """Softmax attention restricted to (meta query, earlier meta key) pairs; needs a MetaContext."""

    def allowed(self, T, ctx: MetaContext):
        meta = ctx.meta_positions
        return super().allowed(T, ctx) & meta[:, None, :, None] & meta[:, None, None, :]

    def attend(self, q, k, v, ctx):
        allowed = self.allowed(q.shape[-2], ctx)
        # explicit path: when a pattern is asked for, for per-query keys (ctx.key_positions) and under
        # vmap (no batching rule for the fused kernel)
        if not self.pattern_asked(ctx) and k.dim() == q.dim() and not torch._C._functorch.is_batchedtensor(q):
            # fused kernel: an ordinary token's row, empty here (NaN in a fused kernel), is opened on its
            # own key and its output zeroed, which leaves it (and its gradient) zero as in the explicit path
            T = q.shape[-2]
            own = torch.eye(T, dtype=torch.bool, device=q.device)
            z = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed | own)
            return z * allowed.any(-1, keepdim=True), None
        pattern = self.hook_pattern(masked_softmax(self.hook_scores(self.scores(q, k)), allowed))
        return pattern @ v, pattern


class MetaAttention(Attention):
    """Causal softmax attention followed by meta-attention among the meta-tokens."""

    def __init__(self, config, layer_idx: int = 0, *, meta_token_id: int, zero_meta_positions: bool = False):
        super().__init__(config, layer_idx)
        self.meta_token_id = meta_token_id
        self.zero_meta_positions = zero_meta_positions
        self.meta = MetaOnlyAttention(config, layer_idx)

    def prepare(self, ctx, input_ids):
        meta = input_ids == self.meta_token_id
        positions = ctx.position_ids.masked_fill(meta, 0) if self.zero_meta_positions else ctx.position_ids
        return MetaContext(**{**vars(ctx), "position_ids": positions, "meta_positions": meta})

    def forward(self, x, ctx: MetaContext):
        y, pattern = super().forward(x, ctx)
        y_meta, _ = self.meta(x + y, ctx)
        return y + y_meta, pattern

    def extra_repr(self):
        return (f"{super().extra_repr()}, meta_token_id={self.meta_token_id}, "
                f"zero_meta_positions={self.zero_meta_positions}")
