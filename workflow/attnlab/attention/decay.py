"""Linear attention with a multiplicative decay: the baseline LightNet (arXiv 2405.21022) argues
against, as in RetNet-style scans with one learned decay per head:

    S_t = λ S_{t−1} + φ(k_t) v_tᵀ,  o_t = S_tᵀ φ(q_t),  φ(x) = elu(x) + 1,  λ = σ(a_h) (a_h at logit 0.9)

so o_t = Σ_{s≤t} λ^{t−s} φ(q_t)·φ(k_s) v_s: a token's reach decays geometrically with its distance
along the scan. One scan reads the tokens before t in raster order. `scans` sums several scans of
the same q, k, v (each its own order, each restricted to the structure mask):
  1: raster order forward;  2: raster forward + backward;
  4: raster and column-major (a grid of `grid_width` columns), each forward and backward.
Two or four scans read both sides of a token, so they need a structure that allows it (a
bidirectional one); under the causal pattern the backward scans only see the token itself.

Forms (attnlab.attention.scan): one scan under the plain causal pattern runs in chunks (time linear
in L); otherwise the (query, key) weights are built explicitly (O(L²)). hook_pattern: the weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.attention.base import Attention
from attnlab.attention.scan import chunked


def phi(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1


def scan_orders(T: int, scans: int, grid_width: int | None, device) -> list[torch.Tensor]:
    """Each scan's rank of every position (position t is visited rank[t]-th)."""
    t = torch.arange(T, device=device)
    orders = [t]
    if scans >= 2:
        orders.append(T - 1 - t)
    if scans == 4:
        if grid_width is None or T % grid_width:
            raise ValueError(f"decay: 4 scans need grid_width dividing the length {T}, got {grid_width}")
        rows = T // grid_width
        col_major = (t % grid_width) * rows + t // grid_width
        orders += [col_major, T - 1 - col_major]
    return orders


class DecayAttention(Attention):
    per_query_keys = False  # a decay scan: no per-query key positions (refused, not ignored)
    def __init__(self, config, layer_idx: int = 0, scans: int = 1, grid_width: int | None = None,
                 init_decay: float = 0.9, chunk: int = 64):
        super().__init__(config, layer_idx)
        if scans not in (1, 2, 4):
            raise ValueError(f"decay: scans must be 1, 2 or 4, got {scans}")
        if not 0 < init_decay < 1:
            raise ValueError(f"decay: init_decay must be in (0, 1), got {init_decay}")
        self.scans, self.grid_width, self.init_decay, self.chunk = scans, grid_width, init_decay, chunk
        self.decay_logit = nn.Parameter(torch.full((self.n_head,), math.log(init_decay / (1 - init_decay))))

    def init_extra_parameters(self, init) -> None:
        init.constant_(self.decay_logit, math.log(self.init_decay / (1 - self.init_decay)))

    def log_decay(self) -> torch.Tensor:
        return F.logsigmoid(self.decay_logit)  # (head,)

    def weights(self, q, k, allowed) -> torch.Tensor:
        T = q.shape[-2]
        logl = self.log_decay()[None, :, None, None]
        dots = phi(q) @ phi(k).transpose(-1, -2)  # (b, h, t, s)
        total = 0.0
        for rank in scan_orders(T, self.scans, self.grid_width, q.device):
            gap = (rank[:, None] - rank[None, :]).to(q.dtype)  # how far back along this scan s is from t
            seen = (gap >= 0) & allowed
            total = total + torch.exp(logl * gap.clamp(min=0)) * seen
        return dots * total

    def attend(self, q, k, v, ctx):
        T = q.shape[-2]
        if not (self.hook_pattern.active or ctx.output_attentions) and ctx.plain_causal and self.scans == 1:
            G = self.log_decay()[None, :, None, None] * torch.arange(T, device=q.device, dtype=q.dtype)[:, None]
            return chunked(phi(q), phi(k), v, G, self.chunk), None
        pattern = self.hook_pattern(self.weights(q, k, self.allowed(T, ctx)))
        return pattern @ v, pattern

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scans={self.scans}"
