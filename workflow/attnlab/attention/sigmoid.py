"""Sigmoid attention without normalisation (Ramapuram et al. 2024, arXiv 2409.04431, eq. 2):

    pattern_ij = sigmoid(q_i·k_j / √d + b) on allowed (causal) pairs, 0 elsewhere; z = pattern · V

Rows do not sum to one. The bias b defaults to −log(T) (the paper's choice for sequence length T),
which keeps the row mass near one at initialisation.
"""

from __future__ import annotations

import math

import torch

from attnlab.attention.base import Attention


class SigmoidAttention(Attention):
    def __init__(self, config, layer_idx: int = 0, bias: float | None = None):
        super().__init__(config, layer_idx)
        self.bias = bias  # None: −log(T)

    def attend(self, q, k, v, ctx):
        T = q.shape[-2]
        b = -math.log(T) if self.bias is None else self.bias
        pattern = torch.sigmoid(self.hook_scores(self.scores(q, k)) + b) * self.allowed(T, ctx)
        pattern = self.hook_pattern(pattern)
        return pattern @ v, pattern
