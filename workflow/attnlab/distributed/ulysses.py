"""Ulysses attention (DeepSpeed-Ulysses, Jacobs et al. 2023): q, k, v arrive sequence-sharded
(rank r: tokens of block r, all H heads); an all_to_all reshards them to head-sharded (rank r: heads
[rH/P, (r+1)H/P), all L tokens), each rank runs full attention on its heads, and a second all_to_all
shards the output back by sequence.
Per-rank score buffer: (H/P)·L² per batch element; bytes sent: 4·(P-1)/P·(L/P)·H·d_head·4 (q, k, v
and the output; spec D3).
"""

from __future__ import annotations

import torch.distributed as dist

from attnlab.distributed.comm import Counter, all_to_all
from attnlab.distributed.dense import dense_attention


def seq_to_heads(x, counter: Counter):
    """(B, H, L/P, d) sequence block -> (B, H/P, L, d) head group, blocks in rank order."""
    world = dist.get_world_size()
    B, H, n, d = x.shape
    chunks = x.view(B, world, H // world, n, d).transpose(0, 1)  # chunk j: head group j -> rank j
    got = all_to_all(chunks, counter)  # chunk j: my head group of rank j's sequence block
    return got.permute(1, 2, 0, 3, 4).reshape(B, H // world, world * n, d)


def heads_to_seq(z, counter: Counter):
    """(B, H/P, L, d) head group -> (B, H, L/P, d) sequence block (inverse of `seq_to_heads`)."""
    world = dist.get_world_size()
    B, h, L, d = z.shape
    chunks = z.view(B, h, world, L // world, d).permute(2, 0, 1, 3, 4)  # chunk j: block j -> rank j
    got = all_to_all(chunks, counter)  # chunk j: head group j of my sequence block
    return got.transpose(0, 1).reshape(B, world * h, L // world, d)


def ulysses_attention(q, k, v, causal: bool, counter: Counter):
    """q, k, v: this rank's sequence block (batch, head, L/P, d_head) -> its block of the output."""
    if q.shape[1] % dist.get_world_size():
        raise ValueError(f"{q.shape[1]} heads do not split over {dist.get_world_size()} processes")
    q, k, v = (seq_to_heads(t, counter) for t in (q, k, v))
    return heads_to_seq(dense_attention(q, k, v, causal, counter), counter)
