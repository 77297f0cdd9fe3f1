"""Counted, differentiable communication for the distributed attentions.

Each wrapper adds the bytes this rank sends (the forward pass only: the spec's D3 volumes are per
forward pass of a layer) to a `Counter`, which also keeps the largest score buffer materialised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Counter:
    """What one rank materialised and sent: the peak score-buffer elements (one buffer of
    query x key scores lives at a time in every method here), bytes sent, score blocks computed."""

    peak_score_elements: int = 0
    bytes_sent: int = 0
    score_blocks: int = 0

    def scores(self, s: torch.Tensor) -> torch.Tensor:
        self.peak_score_elements = max(self.peak_score_elements, s.numel())
        self.score_blocks += 1
        return s

    def sent(self, t: torch.Tensor, fraction: float = 1.0) -> None:
        self.bytes_sent += round(t.numel() * t.element_size() * fraction)


class _RingShift(torch.autograd.Function):
    """Forward: send x to rank r+1, receive rank r-1's. Backward: the transpose, the gradient goes
    back to the rank the data came from (send to r-1, receive from r+1)."""

    @staticmethod
    def forward(ctx, x, counter):
        counter.sent(x)
        return _exchange(x.contiguous(), +1)

    @staticmethod
    def backward(ctx, grad):
        return _exchange(grad.contiguous(), -1), None


def _exchange(x: torch.Tensor, direction: int) -> torch.Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    out = torch.empty_like(x)
    reqs = [dist.isend(x, (rank + direction) % world), dist.irecv(out, (rank - direction) % world)]
    for r in reqs:
        r.wait()
    return out


def ring_shift(x: torch.Tensor, counter: Counter) -> torch.Tensor:
    return _RingShift.apply(x, counter)


class _AllToAll(torch.autograd.Function):
    """all_to_all over dim 0 (P chunks): chunk j goes to rank j, and chunk j of the result came from
    rank j. The exchange is its own transpose, so the backward pass is the same all_to_all."""

    @staticmethod
    def forward(ctx, x, counter):
        world = dist.get_world_size()
        counter.sent(x, (world - 1) / world)  # the own chunk stays local
        return _all_to_all(x)

    @staticmethod
    def backward(ctx, grad):
        return _all_to_all(grad), None


def _all_to_all(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    dist.all_to_all_single(out, x)
    return out


def all_to_all(x: torch.Tensor, counter: Counter) -> torch.Tensor:
    return _AllToAll.apply(x, counter)


class _SumOverRanks(torch.autograd.Function):
    """Megatron's g: all_reduce(sum) forward; identity backward (every rank holds the same output
    and the same gradient of it)."""

    @staticmethod
    def forward(ctx, x, counter):
        counter.sent(x)  # the logical volume; the bytes on the wire depend on gloo's algorithm
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _CopyToRanks(torch.autograd.Function):
    """Megatron's f: identity forward on a replicated input; all_reduce(sum) of the gradient, since
    each rank's heads contribute a part of it."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def sum_over_ranks(x: torch.Tensor, counter: Counter) -> torch.Tensor:
    return _SumOverRanks.apply(x, counter)


def copy_to_ranks(x: torch.Tensor) -> torch.Tensor:
    return _CopyToRanks.apply(x)
