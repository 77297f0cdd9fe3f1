"""Relative convolutional multi-head attention, RCMHA (arXiv 2308.03429), and the two mechanisms it
combines, as options of one layer:

- `conv` (Primer's multi-dconv-head attention, MDHA): a causal depth-wise convolution of kernel
  `kernel` per channel on Q, K and V after their projections, x'_t = Σ_{j<kernel} w_j ⊙ x_{t−j},
  where a tap reaches t−j only when the structure lets t read t−j (the same segment, a real token);
  initialised to the identity (w_0 = 1, the others 0), so it starts as plain attention;
- `relative` (Transformer-XL's relative attention, RMHA): scores
  (q_i·k_j + q_i·R_{i−j} + u·k_j + v·R_{i−j}) / √d_head with the sinusoidal table R of the signed
  distance and learned u, v per head (the model then runs without absolute positions).

conv and relative: RCMHA; conv only: MDHA; relative only: RMHA; neither: MHA. Cost O(L²·d) (dense
attention; the convolution and the relative table are O(L·d)). The pattern is always explicit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attnlab.attention.base import Attention, AttentionContext, apply_rotary, masked_softmax
from attnlab.attention.local import offset_allowed, shift


def sinusoid_table(distances: torch.Tensor, d: int) -> torch.Tensor:
    """(n, d) sinusoidal embeddings of (signed) distances (Vaswani et al. 2017, sec. 3.5)."""
    inv = 1.0 / 10000 ** (torch.arange(0, d, 2, device=distances.device, dtype=torch.float32) / d)
    ang = distances.to(torch.float32)[:, None] * inv
    return torch.cat([ang.sin(), ang.cos()], -1)


class RelConvAttention(Attention):
    per_query_keys = False  # convolved, relative-position keys: no per-query key positions (refused, not ignored)
    def __init__(self, config, layer_idx: int = 0, conv: bool = True, relative: bool = True, kernel: int = 3):
        super().__init__(config, layer_idx)
        if kernel < 1:
            raise ValueError(f"rcmha: kernel must be >= 1, got {kernel}")
        if self.head_dim % 2:
            raise ValueError(f"rcmha: d_head = {self.head_dim} must be even (sinusoidal table)")
        self.conv, self.relative, self.kernel = bool(conv), bool(relative), kernel
        if self.conv:
            self.taps = nn.Parameter(torch.zeros(kernel, 3 * config.n_embd))
        if self.relative:
            self.u = nn.Parameter(torch.zeros(self.n_head, self.head_dim))
            self.r_bias = nn.Parameter(torch.zeros(self.n_head, self.head_dim))

    def init_extra_parameters(self, init) -> None:
        if self.conv:
            init.zeros_(self.taps)
            with torch.no_grad():
                self.taps[0] = 1.0
        if self.relative:
            init.zeros_(self.u)
            init.zeros_(self.r_bias)

    def depthwise(self, qkv: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """Causal depth-wise convolution along pos of (batch, pos, 3·d_model), within the structure."""
        T = qkv.shape[1]
        mask = None if ctx.plain_causal else self.structure(T, ctx)
        t = torch.arange(T, device=qkv.device)
        out = 0.0
        for j in range(min(self.kernel, T)):
            ok = (t >= j).to(qkv.dtype)[None, :, None] if mask is None else offset_allowed(mask, -j)[..., None].to(qkv.dtype)
            out = out + self.taps[j] * shift(qkv, -j) * ok
        return out

    def relative_scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """(q_i + u)·k_j + (q_i + v)·R_{i−j}, over √d_head: (batch, head, query, key)."""
        T = q.shape[-2]
        dist = torch.arange(T - 1, -T, -1, device=q.device)  # 2T−1 distances i−j, from T−1 down
        R = sinusoid_table(dist, self.head_dim).to(q.dtype)  # (2T−1, d)
        content = (q + self.u[:, None]) @ k.transpose(-1, -2)
        pos = (q + self.r_bias[:, None]) @ R.T  # (b, h, i, 2T−1): column c holds distance T−1−c
        i = torch.arange(T, device=q.device)
        col = (T - 1) - (i[:, None] - i[None, :])  # distance i−j -> column
        pos = torch.gather(pos, -1, col.expand(*pos.shape[:-1], T))
        return (content + pos) / math.sqrt(self.head_dim)

    def attend(self, q, k, v, ctx):
        scores = self.hook_scores(self.relative_scores(q, k) if self.relative else self.scores(q, k))
        pattern = self.hook_pattern(masked_softmax(scores, self.allowed(q.shape[-2], ctx)))
        return pattern @ v, pattern

    def forward(self, x: torch.Tensor, ctx: AttentionContext):
        self.refuse_key_positions(ctx)
        B, T, _ = x.shape
        qkv = self.c_attn(x)
        if self.conv:
            qkv = self.depthwise(qkv, ctx)
        q, k, v = qkv.view(B, T, 3, self.n_head, self.head_dim).unbind(2)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if ctx.rope_theta is not None:
            q, k = (apply_rotary(t, ctx.position_ids, ctx.rope_theta) for t in (q, k))
        z, pattern = self.attend(q, k, v, ctx)
        z = self.hook_z(z.transpose(1, 2))
        return self.c_proj(self.combine_heads(z, x, ctx)), pattern

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, conv={self.conv}, relative={self.relative}, kernel={self.kernel}"
