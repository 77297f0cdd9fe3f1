"""Sliding-window softmax attention (Beltagy et al. 2020): query i sees keys within w−1 positions of
it, inside the context's structure (causal by default: keys i−w+1 .. i)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnlab.attention.base import Attention, masked_softmax


class SlidingWindowAttention(Attention):
    def __init__(self, config, layer_idx: int = 0, window: int = 32):
        super().__init__(config, layer_idx)
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window

    def allowed(self, T, ctx):
        i = torch.arange(T, device=ctx.position_ids.device)
        band = (i[:, None] - i[None, :]).abs() < self.window
        return self.structure(T, ctx) & band[None, None]

    def attend(self, q, k, v, ctx):
        allowed = self.allowed(q.shape[-2], ctx)
        if not self.pattern_asked(ctx) and k.dim() == 4:  # 5-D: per-query keys
            return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), None
        pattern = self.hook_pattern(masked_softmax(self.hook_scores(self.scores(q, k)), allowed))
        return pattern @ v, pattern

    def extra_repr(self):
        return f"{super().extra_repr()}, window={self.window}"
