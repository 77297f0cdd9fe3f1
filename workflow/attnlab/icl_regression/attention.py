"""How a head turns its scores s_l = z_lᵀ KQ_h z_q over the L context tokens into weights.

One function per mechanism, all with the same signature (scores (B, H, L), the training prompt
length); the model owns the weights, the mechanism owns this one computation.
"""

from __future__ import annotations

import torch


def softmax(scores: torch.Tensor, train_length: int) -> torch.Tensor:
    return scores.softmax(dim=-1)


def linear_length(scores: torch.Tensor, train_length: int) -> torch.Tensor:
    """Linear attention normalised by the prompt's own length 1/L."""
    return scores / scores.shape[-1]


def linear_fixed(scores: torch.Tensor, train_length: int) -> torch.Tensor:
    """Unnormalised linear attention: the fixed factor 1/L_train at every test length."""
    return scores / train_length


MECHANISMS = {"softmax": softmax, "linear-length": linear_length, "linear-fixed": linear_fixed}
