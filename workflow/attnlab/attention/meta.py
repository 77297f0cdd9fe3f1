"""Meta-tokens with meta-attention (Shah et al. 2025, arXiv 2509.16278, Sec. 3).

After the ordinary causal attention of a layer, a meta-attention with its own weights runs on the
updated residual stream:   softmax(QKᵀ/√d + M + P) · V
where M is the causal mask and P is open only between meta-tokens (so only meta-token queries
attend, and only to earlier meta-tokens; other positions receive nothing from it). The layer's
output is the sum of both. With `zero_meta_positions`, meta-tokens get rotary position 0, i.e.
no positional rotation — the paper's "zeroing positional encoding at meta positions".
Meta-tokens themselves (id `config.meta_token_id`) are inserted into the data, not by this module.
Hook points: the causal part's `hook_pattern`/`hook_z`, and `meta.hook_pattern`/`meta.hook_z`.
"""

from __future__ import annotations

import math

from attnlab.attention.base import Attention, masked_softmax


def _zeroed(ctx):
    if ctx.meta_positions is None:
        return ctx.position_ids
    return ctx.position_ids.masked_fill(ctx.meta_positions, 0)


class MetaOnlyAttention(Attention):
    """Softmax attention restricted to (meta query, earlier meta key) pairs."""

    def __init__(self, config, layer_idx: int = 0, zero_meta_positions: bool = False):
        super().__init__(config, layer_idx)
        self.zero_meta_positions = zero_meta_positions

    def allowed(self, T, ctx):
        mask = super().allowed(T, ctx)
        if ctx.meta_positions is None:  # no meta-tokens in this batch: attend nowhere
            return mask & False
        meta = ctx.meta_positions
        return mask & meta[:, None, :, None] & meta[:, None, None, :]

    def attend(self, q, k, v, ctx):
        # always the explicit path: rows of ordinary tokens are empty, which fused kernels turn into NaN
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        pattern = self.hook_pattern(masked_softmax(scores, self.allowed(q.shape[-2], ctx)))
        return pattern @ v, pattern

    def positions(self, ctx):
        return _zeroed(ctx) if self.zero_meta_positions else ctx.position_ids


class MetaAttention(Attention):
    """Causal softmax attention followed by meta-attention among the meta-tokens."""

    def __init__(self, config, layer_idx: int = 0, zero_meta_positions: bool = False):
        super().__init__(config, layer_idx)
        self.zero_meta_positions = zero_meta_positions
        self.meta = MetaOnlyAttention(config, layer_idx, zero_meta_positions=zero_meta_positions)

    def positions(self, ctx):
        return _zeroed(ctx) if self.zero_meta_positions else ctx.position_ids

    def forward(self, x, ctx):
        y, pattern = super().forward(x, ctx)
        y_meta, _ = self.meta(x + y, ctx)
        return y + y_meta, pattern

    def extra_repr(self):
        return f"{super().extra_repr()}, zero_meta_positions={self.zero_meta_positions}"
