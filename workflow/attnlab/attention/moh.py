"""Mixture-of-Head attention (Jin et al. 2024, arXiv 2410.11842, eqs. 5-8).

    MoH(x) = Σ_i g_i H^i W_O^i
    shared heads i ≤ h_s:  g_i = α₁ · h_s · softmax(W_s x)_i
    routed heads i > h_s:  g_i = α₂ · k · softmax(W_r x)_{i−h_s} if i is in the token's top-k, else 0
    [α₁, α₂] = softmax(W_h x)
    load balance (eq. 8):  L_b = Σ_{i>h_s} P_i f_i,  P_i = mean_t softmax(W_r x_t)_i,
                           f_i = fraction of tokens routed to head i;  weight β (0.01)

The factors h_s and k follow the reference code (SkyworkAI/MoH). Dense emulation: every head is
computed and unselected heads are multiplied by zero, so there is no compute saving on CPU; the
routing, the weighted summation and the realised active fraction are exactly the paper's.
β·L_b of the last forward pass is the layer's `aux_loss()`, which the model adds to its loss.
Extra hook point: `hook_gate` (batch, pos, head), the gates g_i (0 for unselected heads).
"""

from __future__ import annotations

import torch
from torch import nn

from attnlab.attention.base import Attention
from attnlab.hooks import HookPoint


class MoHAttention(Attention):
    def __init__(self, config, layer_idx: int = 0, shared_heads: int = 2, active_heads: int | None = None,
                 load_balance_weight: float = 0.01):
        super().__init__(config, layer_idx)
        H = config.n_head
        active_heads = H if active_heads is None else active_heads
        if not 0 <= shared_heads <= active_heads <= H or shared_heads == H:
            raise ValueError(f"need 0 <= shared_heads ({shared_heads}) <= active_heads ({active_heads}) "
                             f"<= n_head ({H}) and at least one routed head")
        self.shared_heads, self.active_heads = shared_heads, active_heads
        self.top_k = active_heads - shared_heads
        self.load_balance_weight = load_balance_weight
        d = config.n_embd
        self.w_shared = nn.Linear(d, shared_heads, bias=False) if shared_heads else None
        self.w_routed = nn.Linear(d, H - shared_heads, bias=False)
        self.w_mix = nn.Linear(d, 2, bias=False)
        self.hook_gate = HookPoint()
        self.load_balance_loss: torch.Tensor | None = None  # β·L_b of the last forward pass

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, pos, d_model) -> (batch, pos, head) gates; sets `self.load_balance_loss`."""
        alpha = torch.softmax(self.w_mix(x), dim=-1)
        routed_p = torch.softmax(self.w_routed(x), dim=-1)
        top = routed_p.topk(self.top_k, dim=-1).indices
        chosen = torch.zeros_like(routed_p).scatter(-1, top, 1.0)  # out of place: batched under vmap
        routed = alpha[..., 1:2] * self.top_k * routed_p * chosen
        parts = [routed]
        if self.w_shared is not None:
            shared = alpha[..., 0:1] * self.shared_heads * torch.softmax(self.w_shared(x), dim=-1)
            parts.insert(0, shared)
        P, f = routed_p.flatten(0, 1).mean(0), chosen.flatten(0, 1).mean(0)
        self.load_balance_loss = self.load_balance_weight * (P * f).sum()
        return torch.cat(parts, dim=-1)

    def combine_heads(self, z, x, ctx):
        g = self.hook_gate(self.gates(x))
        return (z * g.unsqueeze(-1).to(z.dtype)).flatten(2)

    def aux_loss(self):
        return self.load_balance_loss

    def extra_repr(self):
        return f"{super().extra_repr()}, shared={self.shared_heads}, top_k={self.top_k}"
