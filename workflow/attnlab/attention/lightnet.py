"""LightNet's additive-decay linear attention, "You Only Scan Once" (Qin et al. 2024, arXiv
2405.21022; the gate as flash-linear-attention's `fla/ops/lightnet/naive.py` computes it):

    per key feature f:  z_t = logcumsumexp_{s≤t} k_s;  k'_t = exp(k_t − z_t);  λ_t = exp(z_{t−1} − z_t)
    S_t = λ_t ⊙ S_{t−1} + k'_t v_tᵀ   =>   S_t = Σ_{s≤t} softmax_{s≤t}(k_{·f})_s v_s
    o_t = S_tᵀ silu(q_t)

The state after the last token does not depend on the order of the tokens: a query that reads S_T
(a noncausal structure) sees every token after one scan. Under any structure mask each query reads
the state of the keys it may see, o_t = Σ_{s allowed} Σ_f silu(q_tf) softmax_{s allowed}(k_{·f})_s v_s:
causal gives the scan, a bidirectional structure gives S_T to every query.

Forms (attnlab.attention.scan): the plain causal pattern runs in chunks (time linear in L); any
other structure, or a hooked pattern, builds the (query, key) weights explicitly (a dense O(L²)
emulation). hook_pattern: those weights (rows do not sum to one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnlab.attention.base import Attention
from attnlab.attention.scan import chunked


def lightnet_weights(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """(batch, head, query, key): Σ_f q_tf softmax over the allowed keys s of k_sf (0 elsewhere)."""
    allowed5 = allowed[..., None]  # (b, 1|h, t, s, 1)
    ks = k[:, :, None, :, :].masked_fill(~allowed5, torch.finfo(k.dtype).min)  # (b, h, t, s, F)
    w = torch.softmax(ks, dim=-2) * allowed5
    return torch.einsum("bhtf,bhtsf->bhts", q, w)


class LightNetAttention(Attention):
    per_query_keys = False  # a decay scan: no per-query key positions (refused, not ignored)
    def __init__(self, config, layer_idx: int = 0, chunk: int = 64):
        super().__init__(config, layer_idx)
        if chunk < 1:
            raise ValueError(f"lightnet: chunk must be >= 1, got {chunk}")
        self.chunk = chunk

    def attend(self, q, k, v, ctx):
        q = F.silu(q)
        if not (self.hook_pattern.active or ctx.output_attentions) and ctx.plain_causal:
            z = torch.logcumsumexp(k, dim=-2)
            return chunked(q, torch.exp(k - z), v, -z, self.chunk), None
        pattern = self.hook_pattern(lightnet_weights(q, k, self.allowed(q.shape[-2], ctx)))
        return pattern @ v, pattern
