"""The causal Grassmann flow layer (arXiv 2512.19428, "Attention is not what you need"; the layer
as the alphaXiv reproduction implements the paper's specification), an attention-free mixer that
replaces attention inside the block (x + mixer(LN x), then x + MLP(LN x)):

    z_t = W_red h_t + b                                       (r dimensions)
    for each δ in W = {1, 2, 4, 8, 12, 16} with the pair (t, t−δ) allowed:
        p_ij = z_{t,i} z_{t−δ,j} − z_{t,j} z_{t−δ,i}, i < j   (Plücker coordinates of span(z_t, z_{t−δ}) on Gr(2, r))
        p̂ = p / max(‖p‖₂, ε);   g_δ = W_plu p̂ + b
    g_t = mean of g_δ over the allowed δ (0 when none is)
    α = σ(W_gate [h_t; g_t]);   out = LayerNorm(α ⊙ h_t + (1 − α) ⊙ g_t)

Cost: O(L · |W| · r² · d) for fixed r, linear in the sequence length L.

Structure masks: a pair (t, t−δ) counts only where the context's structure lets t read t−δ (causal,
within its segment, a real token). Under a structure that lets t read ahead (a bidirectional
prefix), the pairs (t, t+δ) count as well; the paper's layer is the causal case.

There are no heads and no attention pattern. Hook points: `hook_mix` (g_t, (batch, pos, d_model))
and `hook_gate` (α, same shape). The Plücker projection W_plu is named `c_proj` (the projection into
the model's width) so the model's initialisation finds it; `init_extra_parameters` then gives it
the plain N(0, 0.02) of every other Linear, as in the reproduction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.attention.base import Attention, AttentionContext
from attnlab.attention.local import offset_allowed, shift
from attnlab.hooks import HookPoint

WINDOWS = (1, 2, 4, 8, 12, 16)


def plucker(a: torch.Tensor, b: torch.Tensor, idx_i: torch.Tensor, idx_j: torch.Tensor) -> torch.Tensor:
    """Plücker coordinates a_i b_j − a_j b_i (pairs idx_i, idx_j; i < j) of the 2-plane spanned by a and b
    (..., r). The coordinates are picked by one-hot matmuls: indexing a[..., idx] and its scatter-add
    backward took half of the Grassmann layer's time."""
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    sel_i, sel_j = eye[:, idx_i], eye[:, idx_j]
    return (a @ sel_i) * (b @ sel_j) - (a @ sel_j) * (b @ sel_i)


class GrassmannMixing(Attention):
    """Causal Grassmann mixing (no heads): `rank` r of the reduction, `windows` the offsets δ."""
    per_query_keys = False  # a mixer without keys: no per-query key positions (refused, not ignored)

    def __init__(self, config, layer_idx: int = 0, rank: int = 32, windows=WINDOWS, eps: float = 1e-8):
        nn.Module.__init__(self)  # none of the attention projections: the mixer has its own
        if rank < 2:
            raise ValueError(f"grassmann: rank must be >= 2 (a 2-plane in R^r), got {rank}")
        windows = tuple(int(w) for w in windows)
        if not windows or min(windows) < 1:
            raise ValueError(f"grassmann: windows must be positive offsets, got {windows}")
        d = config.n_embd
        self.layer_idx, self.d_model, self.rank, self.windows, self.eps = layer_idx, d, rank, windows, eps
        self.n_head = 1  # no heads; what shape-generic code may read
        self.w_red = nn.Linear(d, rank)
        self.c_proj = nn.Linear(rank * (rank - 1) // 2, d)  # W_plu
        self.w_gate = nn.Linear(2 * d, d)
        self.ln = nn.LayerNorm(d, eps=config.layer_norm_epsilon)
        self.hook_mix, self.hook_gate = HookPoint(), HookPoint()

    def init_extra_parameters(self, init) -> None:
        init.normal_(self.c_proj.weight, mean=0.0, std=0.02)  # undo the GPT-2 residual scaling

    def offsets(self, T: int, ctx: AttentionContext):
        """[(signed offset, (batch or 1, T, 1) float validity)] of every pair the structure allows."""
        if ctx.plain_causal:
            t = torch.arange(T, device=ctx.position_ids.device)
            return [(-w, (t >= w).float()[None, :, None]) for w in self.windows if w < T]
        mask = self.structure(T, ctx)
        out = []
        for w in self.windows:
            for o in (-w, w):
                if w < T:
                    out.append((o, offset_allowed(mask, o).float()[..., None]))
        return out

    def mix(self, z: torch.Tensor, T: int, ctx: AttentionContext) -> torch.Tensor:
        """g_t: the mean over allowed offsets of W_plu p̂(z_t, z_{t+o}) + b, 0 where none is allowed.

        Every offset at once: W_plu is linear, so the mean of W_plu p̂_o + b over the allowed offsets
        is W_plu (Σ_o valid_o p̂_o) / n + b, one projection instead of one per offset."""
        offsets = self.offsets(T, ctx)
        if not offsets:  # no offset fits in the sequence
            return torch.zeros(*z.shape[:-1], self.d_model, dtype=z.dtype, device=z.device)
        # the pairs i < j, built here: a buffer would not survive from_pretrained's meta-device loading
        idx_i, idx_j = torch.triu_indices(self.rank, self.rank, offset=1, device=z.device)
        partners = torch.stack([shift(z, o) for o, _ in offsets])  # (W, B, T, r)
        valid = torch.stack(torch.broadcast_tensors(*(v for _, v in offsets)))  # (W, B or 1, T, 1)
        p = plucker(z.unsqueeze(0), partners, idx_i, idx_j)  # (W, B, T, r(r-1)/2): every offset at once
        # max(‖p‖, ε) as √max(‖p‖², ε²): the same value, and a gradient defined at p = 0 (equal tokens)
        p = p * torch.rsqrt((p * p).sum(-1, keepdim=True).clamp(min=self.eps**2))
        count = valid.sum(0)  # (B or 1, T, 1)
        total = F.linear((p * valid).sum(0), self.c_proj.weight) + self.c_proj.bias * count
        return total / count.clamp(min=1.0)

    def forward(self, x: torch.Tensor, ctx: AttentionContext):
        self.refuse_key_positions(ctx)
        T = x.shape[1]
        g = self.hook_mix(self.mix(self.w_red(x), T, ctx))
        alpha = self.hook_gate(torch.sigmoid(self.w_gate(torch.cat([x, g], -1))))
        return self.ln(alpha * x + (1 - alpha) * g), None

    def extra_repr(self) -> str:
        return f"layer={self.layer_idx}, rank={self.rank}, windows={list(self.windows)}"
