"""Prefix-LM attention: bidirectional over a prefix, causal after it (Raffel et al. 2020, §3.2.1;
the "bidirectional fine-tuning" of multi-hop QA, arXiv 2505.11754: the context × context block of
the mask made fully visible, answer tokens causal).

The prefix of each sequence is found by token ids: it runs through `offset` tokens after the first
`marker` token (e.g. the question "Q e r1 r2": marker Q, offset 3); a sequence without the marker
has no prefix (plain causal attention). The mask is `attnlab.attention.base.prefix_lm_mask`, set as
the context's structure mask (unless the caller gives one), so the model trains and generates with it like any mechanism.
"""

from __future__ import annotations

import dataclasses

import torch

from attnlab.attention.base import Attention, AttentionContext, prefix_lm_mask


def prefix_lengths(input_ids: torch.Tensor, marker: int, offset: int) -> torch.Tensor:
    """(batch,) number of prefix tokens: through `offset` tokens after the first `marker`; 0 without one."""
    hit = input_ids == marker
    first = hit.long().argmax(-1)
    return torch.where(hit.any(-1), (first + offset + 1).clamp(max=input_ids.shape[-1]), torch.zeros_like(first))


class PrefixLMAttention(Attention):
    def __init__(self, config, layer_idx: int = 0, *, marker: int, offset: int = 0):
        super().__init__(config, layer_idx)
        if offset < 0:
            raise ValueError(f"prefix_lm: offset must be >= 0, got {offset}")
        self.marker, self.offset = marker, offset

    def prepare(self, ctx: AttentionContext, input_ids: torch.Tensor) -> AttentionContext:
        if ctx.structure_mask is not None:  # a pattern given by the caller takes precedence
            return ctx
        mask = prefix_lm_mask(prefix_lengths(input_ids, self.marker, self.offset), input_ids.shape[-1])
        return dataclasses.replace(ctx, structure_mask=mask)

    def extra_repr(self):
        return f"{super().extra_repr()}, marker={self.marker}, offset={self.offset}"
