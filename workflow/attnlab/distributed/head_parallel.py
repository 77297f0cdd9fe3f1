"""Head-parallel attention (Megatron-LM, Shoeybi et al. 2019, §3): rank r holds heads
[rH/P, (r+1)H/P), i.e. its rows of W_qkv and its columns of W_O; every rank sees the whole sequence
and the layer output is the all_reduce(sum) of the per-rank partial outputs.
Per-rank score buffer: (H/P)·L² per batch element (spec D2)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from attnlab.distributed.comm import Counter, copy_to_ranks, sum_over_ranks
from attnlab.distributed.dense import dense_attention, split_qkv


def head_slices(w_qkv, b_qkv, w_o, n_head: int, rank: int, world: int):
    """This rank's rows of W_qkv (and b_qkv) and columns of W_O."""
    if n_head % world:
        raise ValueError(f"{n_head} heads do not split over {world} processes")
    d_model = w_o.shape[0]
    d_head, local = d_model // n_head, n_head // world
    cols = torch.arange(rank * local * d_head, (rank + 1) * local * d_head, device=w_o.device)
    rows = torch.cat([part * d_model + cols for part in range(3)])  # q, k, v rows of my heads
    return w_qkv[rows], b_qkv[rows], w_o[:, cols]


def head_parallel_mha(x, w_qkv, b_qkv, w_o, b_o, n_head: int, causal: bool, counter: Counter):
    """The layer `dense.dense_mha` computes, with this rank's heads only; x is replicated on every
    rank and so is the output."""
    rank, world = dist.get_rank(), dist.get_world_size()
    w_qkv_r, b_qkv_r, w_o_r = head_slices(w_qkv, b_qkv, w_o, n_head, rank, world)
    x = copy_to_ranks(x)
    q, k, v = split_qkv(x, w_qkv_r, b_qkv_r, n_head // world)
    z = dense_attention(q, k, v, causal, counter).transpose(1, 2).flatten(2)
    # y = Σ_r z_r W_O[:, heads_r]ᵀ + b_O: the bias joins once, after the sum
    return sum_over_ranks(F.linear(z, w_o_r), counter) + b_o
