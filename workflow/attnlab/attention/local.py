"""Helpers for mechanisms that mix a token with tokens at fixed offsets (Grassmann's Plücker pairs,
RCMHA's causal depth-wise convolution) under the context's structure mask.

`offset_allowed(mask, o)[b, t]` is True when position t may read position t + o: the pair is inside
the sequence and the structure (causal, segments, padding, a prefix) allows it. Reading a token at
offset o is then `shift(x, o)` (zeros where the position falls outside the sequence)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shift(x: torch.Tensor, offset: int, dim: int = 1) -> torch.Tensor:
    """y[..., t, ...] = x[..., t + offset, ...] along `dim`, zero where t + offset is outside."""
    if offset == 0:
        return x
    T = x.shape[dim]
    n = min(abs(offset), T)
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim()))
    if offset > 0:  # read ahead: drop the first n, pad at the end
        return F.pad(x.narrow(dim, n, T - n), [*pad, 0, n])
    return F.pad(x.narrow(dim, 0, T - n), [*pad, n, 0])


def offset_allowed(structure: torch.Tensor, offset: int) -> torch.Tensor:
    """(batch or 1, pos) bool from a (batch or 1, 1, query, key) structure mask: whether query t may
    read key t + offset (False where t + offset is outside the sequence)."""
    m = structure[:, 0]
    T = m.shape[-1]
    diag = torch.diagonal(m, offset=offset, dim1=-2, dim2=-1)  # (b, T - |offset|)
    n = min(abs(offset), T)
    pad = torch.zeros(m.shape[0], n, dtype=torch.bool, device=m.device)
    return torch.cat([diag, pad], -1) if offset > 0 else torch.cat([pad, diag], -1)
