"""Dynamic-mask attention, DMA (Shi et al. 2025, arXiv 2508.02124, Sec. 3) — dense emulation.

Per head h and key position j, a content-aware score from the value representation:
    z_hj = exp(A_h · softplus(v_j W_Δᵀ)_h)
Each query keeps its top-w keys by z inside the causal mask; scores are QKᵀ/√d + z on the kept
set and −∞ elsewhere. This is the same function as the flash-dmattn kernel but computed densely
(all T×T scores, then masked), so it has none of the kernel's speed-up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.attention.base import Attention, masked_softmax


class DynamicMaskAttention(Attention):
    def __init__(self, config, layer_idx: int = 0, window: int = 32):
        super().__init__(config, layer_idx)
        self.window = window
        self.dt_proj = nn.Linear(config.n_embd, config.n_head)  # W_Δ: all heads' values -> one score per head
        self.A = nn.Parameter(torch.zeros(config.n_head))  # zero init as in the reference (z = 1)

    def init_extra_parameters(self, init):
        init.zeros_(self.A)

    def key_scores(self, v):
        """(batch, head, pos, d_head) values -> (batch, head, pos) z."""
        B, H, T, D = v.shape
        dt = F.softplus(self.dt_proj(v.transpose(1, 2).reshape(B, T, H * D)))  # (B, T, H)
        return torch.exp(self.A * dt).transpose(1, 2)

    def allowed_and_bias(self, z, ctx):
        T = z.shape[-1]
        causal = self.allowed(T, ctx)  # (B or 1, 1, T, T)
        bias = z[:, :, None, :].expand(-1, -1, T, -1)
        if T <= self.window:
            return causal.expand_as(bias), bias
        ranked = bias.masked_fill(~causal, float("-inf"))
        keep = torch.zeros_like(ranked, dtype=torch.bool).scatter(-1, ranked.topk(self.window, -1).indices, True)
        return keep & causal, bias

    def attend(self, q, k, v, ctx):
        allowed, bias = self.allowed_and_bias(self.key_scores(v), ctx)
        scores = self.hook_scores(self.scores(q, k)) + bias
        pattern = self.hook_pattern(masked_softmax(scores, allowed))
        return pattern @ v, pattern

    def extra_repr(self):
        return f"{super().extra_repr()}, window={self.window}"
