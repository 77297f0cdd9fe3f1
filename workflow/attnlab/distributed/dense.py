"""Single-process softmax attention with materialised scores: the reference every distributed
method must equal, and the unfused MHA baseline of the spec."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from attnlab.distributed.comm import Counter


def dense_attention(q, k, v, causal: bool, counter: Counter | None = None) -> torch.Tensor:
    """softmax(q kᵀ/√d) v over (batch, head, pos, d_head) (Vaswani et al. 2017, eq. 1)."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if counter is not None:
        counter.scores(s)
    if causal:
        L = q.shape[-2]
        s = s.masked_fill(~torch.ones(L, L, dtype=torch.bool, device=q.device).tril(), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def split_qkv(x, w_qkv, b_qkv, n_head: int):
    """x (batch, pos, d_model) -> q, k, v (batch, head, pos, d_head) with GPT-2's c_attn layout
    (weight (3·d_model, d_model): the q rows, then the k rows, then the v rows)."""
    B, L, _ = x.shape
    qkv = F.linear(x, w_qkv, b_qkv).view(B, L, 3, n_head, -1)
    return (t.transpose(1, 2) for t in qkv.unbind(2))


def dense_mha(x, w_qkv, b_qkv, w_o, b_o, n_head: int, causal: bool, counter: Counter | None = None):
    """A whole multi-head attention layer: projections, attention, output projection."""
    q, k, v = split_qkv(x, w_qkv, b_qkv, n_head)
    z = dense_attention(q, k, v, causal, counter).transpose(1, 2).flatten(2)
    return F.linear(z, w_o, b_o)
