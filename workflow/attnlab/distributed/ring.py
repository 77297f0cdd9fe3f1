"""Ring attention (sequence parallel; Liu, Zaharia & Abbeel 2023, "Ring Attention with Blockwise
Transformers"): rank r holds query block r and K/V block r (L/P tokens). In P-1 steps the K/V
blocks travel round the ring; each block's scores are folded into running statistics by the online
softmax (Milakov & Gimelshein 2018):
    m' = max(m, m_b),  l' = l·e^(m-m') + l_b·e^(m_b-m'),  o' = o·e^(m-m') + o_b·e^(m_b-m'),
and the output is o/l. Causal: a key block after the query block is skipped (rank r computes r+1
of the P blocks: the load imbalance `causal_blocks` reports).
Per-rank score buffer: H·(L/P)² per batch element; bytes sent: (P-1)·2·(L/P)·H·d_head·4 (spec D2, D3).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from attnlab.distributed.comm import Counter, ring_shift


def block_stats(q, k, v, mask, counter: Counter | None = None):
    """One key block's (max m_b, sum of exponentials l_b, unnormalised output o_b) per query."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if counter is not None:
        counter.scores(s)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    p = torch.exp(s - m)
    return m, p.sum(dim=-1, keepdim=True), p @ v


def merge(state, block):
    """The online-softmax merge of two partial results (module docstring)."""
    m, l, o = state
    m_b, l_b, o_b = block
    m_new = torch.maximum(m, m_b)
    a, b = torch.exp(m - m_new), torch.exp(m_b - m_new)
    return m_new, l * a + l_b * b, o * a + o_b * b


def ring_attention(q, k, v, causal: bool, counter: Counter) -> torch.Tensor:
    """q, k, v: this rank's sequence block (batch, head, L/P, d_head) -> its block of the output."""
    rank, world = dist.get_rank(), dist.get_world_size()
    n = q.shape[-2]
    diagonal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril() if causal else None
    state = block_stats(q, k, v, diagonal, counter)  # the own block: never empty, even when causal
    kv = torch.stack([k, v])
    for step in range(1, world):
        kv = ring_shift(kv, counter)
        src = (rank - step) % world  # whose K/V block arrived
        if causal and src > rank:
            # every rank must take part in the backward exchange of every step: the unused block
            # joins the graph with weight zero
            state = (state[0], state[1], state[2] + 0.0 * kv.sum())
            continue
        state = merge(state, block_stats(q, kv[0], kv[1], None, counter))
    return state[2] / state[1]


def causal_blocks(world: int) -> list[int]:
    """Score blocks each rank computes in causal ring attention: rank r, r+1 (imbalance P/((P+1)/2))."""
    return [r + 1 for r in range(world)]
