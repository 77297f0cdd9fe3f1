"""Gaussian adaptive attention, GAAM (Ioannides et al., arXiv 2401.11143, later "density adaptive",
DAAM; the official `gaussian_adaptive_attention.py`), per head (a slice of the features) along time:

    μ, σ²: mean and variance of x over time;  for Gaussians g = 1..G:  y_g = (x − (μ + δ_g)) / σ
    w = Π_g exp(−y_g² / (2 c_g²)) / √(2π c_g²), normalised over time;   out = x ⊙ w (then sum-pooled)

δ_g (initialised to 0) and c_g are learnable per head. Every feature has its own weights over time.

`gaussian_pool` is the paper's head on raw features (one pooled vector per head, the classification
use). `GAAMAttention` is the same weighting behind the attention interface: each query t takes μ, σ²
and the normalisation over the keys it may see (causal: the prefix; bidirectional: the whole
sequence, which gives every query the paper's pooled vector), applied to the values:
z_tf = Σ_s w_tsf v_sf. q and k are unused (the weights depend on the values' density alone). Cost:
O(L² · d) time and memory (every (query, key, feature) weight). The normalisation is a softmax of
the log weights over the allowed keys (the official code divides by their sum, clamped at 1e-8:
the same unless every weight underflows); the variance is the biased one (the official's is
unbiased; a query that sees one key would divide by zero). hook_pattern: the weights averaged over
the head's features (rows sum to one).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attnlab.attention.base import Attention


def gaussian_weights(x: torch.Tensor, allowed: torch.Tensor, offsets: torch.Tensor, c: torch.Tensor,
                     eps: float = 1e-8) -> torch.Tensor:
    """(batch, head, query, key, F) weights of x (batch, head, pos, F) for each query over its
    allowed keys (allowed (batch or 1, 1 or head, query, key) bool); offsets, c: (head, G)."""
    a = allowed[..., None].to(x.dtype)  # (b, h, t, s, 1)
    n = a.sum(-2).clamp(min=1.0)  # (b, h, t, 1)
    xs = x[:, :, None, :, :]  # (b, h, 1, s, F)
    mu = (a * xs).sum(-2) / n  # (b, h, t, F)
    var = (a * (xs - mu[:, :, :, None, :]) ** 2).sum(-2) / n + eps
    sd = var.sqrt()[:, :, :, None, :]
    logw = 0.0
    for g in range(offsets.shape[-1]):
        cg = c[:, g][None, :, None, None, None]
        y = (xs - (mu[:, :, :, None, :] + offsets[:, g][None, :, None, None, None])) / sd
        logw = logw - y**2 / (2 * cg**2) - 0.5 * torch.log(2 * math.pi * cg**2)
    logw = logw.masked_fill(a == 0, torch.finfo(x.dtype).min)
    return torch.softmax(logw, dim=-2) * a


def gaussian_pool(x: torch.Tensor, heads: int, offsets: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The paper's head on raw features x (batch, time, features): per head, x ⊙ w summed over
    time -> (batch, features)."""
    B, T, Fdim = x.shape
    xh = x.view(B, T, heads, Fdim // heads).transpose(1, 2)  # (b, h, T, F/h)
    allowed = torch.ones(1, 1, 1, T, dtype=torch.bool, device=x.device)  # one query sees every step
    w = gaussian_weights(xh, allowed, offsets, c)[:, :, 0]  # (b, h, T, F/h)
    return (xh * w).sum(2).reshape(B, Fdim)


class GaussianParameters(nn.Module):
    """Per head: G mean offsets δ (init 0) and scales c (init 1)."""

    def __init__(self, heads: int, gaussians: int):
        super().__init__()
        if gaussians < 1:
            raise ValueError(f"gaam: gaussians must be >= 1, got {gaussians}")
        self.offsets = nn.Parameter(torch.zeros(heads, gaussians))
        self.c = nn.Parameter(torch.ones(heads, gaussians))

    def reset(self, init) -> None:
        init.zeros_(self.offsets)
        init.ones_(self.c)


class GAAMAttention(Attention):
    per_query_keys = False  # Gaussian pooling over shared keys: no per-query key positions (refused, not ignored)
    def __init__(self, config, layer_idx: int = 0, gaussians: int = 2):
        super().__init__(config, layer_idx)
        self.gauss = GaussianParameters(self.n_head, gaussians)

    def init_extra_parameters(self, init) -> None:
        self.gauss.reset(init)

    def attend(self, q, k, v, ctx):
        w = gaussian_weights(v, self.allowed(q.shape[-2], ctx), self.gauss.offsets, self.gauss.c)
        z = torch.einsum("bhtsf,bhsf->bhtf", w, v)
        return z, self.hook_pattern(w.mean(-1))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gaussians={self.gauss.offsets.shape[-1]}"
