"""The four attention patterns of CAB (arXiv 2210.07661, Sec. 2): {noncausal, causal} × {self, cross}.

Not a mechanism: helpers any mechanism and model may use. A context says which pattern a layer
computes without the mechanism having to read mask values (mechanisms branch on no tensor value,
so they run under torch.func.vmap):

- causal self:     `AttentionContext` without a structure mask (every mechanism's default);
- noncausal self:  `full_context(...)`: a structure mask of all True and `bidirectional=True`;
- cross (both):    `full_context(...)` over (decoder query, encoder key) pairs. A query's output
                   never depends on another query in any mechanism here, so "causal cross"
                   (CAB: later queries must not change earlier outputs) is the same call; the
                   decoder's causal self-attention makes it causal.

Linear-time mechanisms (performer, abc) use global sums when `bidirectional` is set and prefix sums
when there is no structure mask; any other structure mask is honoured exactly in quadratic form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlab.attention.base import AttentionContext


@dataclass
class PatternContext(AttentionContext):
    # the structure mask is all True: every query may see every real key (key_padding still applies)
    bidirectional: bool = False


def full_context(position_ids: torch.Tensor, n_keys: int | None = None, **fields) -> PatternContext:
    """A context in which each of the position_ids' queries sees every one of `n_keys` keys (default:
    as many keys as queries): noncausal self-attention, or cross-attention to `n_keys` encoder states."""
    T = position_ids.shape[-1]
    mask = torch.ones(1, T, T if n_keys is None else n_keys, dtype=torch.bool, device=position_ids.device)
    return PatternContext(position_ids=position_ids, structure_mask=mask, bidirectional=True, **fields)


def is_bidirectional(ctx: AttentionContext) -> bool:
    return bool(getattr(ctx, "bidirectional", False))
