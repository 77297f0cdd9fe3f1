"""Performer attention, FAVOR+ (Choromanski et al. 2021, arXiv 2009.14794): softmax attention
approximated by positive orthogonal random features,

    exp(q·k/√d) = E_ω[φ(q')·φ(k')],   φ(x) = exp(Ωx − ‖x‖²/2) / √m,   x' = x / d^{1/4},

with Ω (m × d_head) orthogonal Gaussian rows (Sec. 2.4: blocks of d orthogonal directions, each row
rescaled to a chi-distributed norm), drawn once per model from `feature_seed` and the layer index
and saved with it (a buffer). Attention is then linear in length:

    out_i = φ(q_i)ᵀ Σ_s φ(k_s) v_sᵀ / φ(q_i)ᵀ Σ_s φ(k_s)

- bidirectional context (attnlab.attention.patterns: noncausal self, cross): sums over every real key;
- no structure mask (causal): prefix sums over s ≤ i (CAB, arXiv 2210.07661, disables this form for
  causal self-attention; we keep it and CAB's support table in the experiment);
- any other structure (prefix LM, packed segments): the same kernel in quadratic form,
  A_is = φ(q_i)·φ(k_s) on allowed pairs, rows normalised: exact for any mask.
Padded keys get zero features. Each query's own stabiliser (its largest exponent) cancels in the
ratio; keys need none (Ωk − ‖k‖²/2 ≤ ‖ω‖²/2 cannot overflow). `hook_pattern` sees the normalised A.
"""

from __future__ import annotations

import math

import torch

from attnlab.attention.base import Attention
from attnlab.attention.patterns import is_bidirectional

EPS = 1e-12  # a row with no allowed key gets 0/EPS = 0


def orthogonal_gaussian(m: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """(m, d): ceil(m/d) blocks of d orthonormal rows (QR of a Gaussian matrix, signs fixed by R's
    diagonal so that the block is Haar-distributed: without it the directions are biased), each row
    scaled to the norm of an independent standard Gaussian d-vector; the first m rows."""
    blocks = []
    for _ in range(-(-m // d)):
        q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, device="cpu", dtype=torch.float64))
        blocks.append((q * torch.sign(torch.diagonal(r))).T)
    omega = torch.cat(blocks)[:m]
    norms = torch.randn(m, d, generator=generator, device="cpu", dtype=torch.float64).norm(dim=-1, keepdim=True)
    return (omega * norms).float()


class PerformerAttention(Attention):
    per_query_keys = False  # keys enter through shared features/slots (no per-query key positions)

    def __init__(self, config, layer_idx: int = 0, features: int = 16, feature_seed: int = 0):
        super().__init__(config, layer_idx)
        if features < 1:
            raise ValueError(f"performer: features must be >= 1, got {features}")
        self.features, self.feature_seed = features, feature_seed
        g = torch.Generator(device="cpu").manual_seed(1_000_003 * feature_seed + layer_idx)
        self.register_buffer("omega", orthogonal_gaussian(features, self.head_dim, g))

    def feature_map(self, x: torch.Tensor, is_query: bool) -> torch.Tensor:
        """(..., d_head) -> (..., m) positive random features of x / d^{1/4}."""
        x = x * self.head_dim ** -0.25
        dash = x @ self.omega.to(x.dtype).T - (x * x).sum(-1, keepdim=True) / 2
        if is_query:  # a per-query constant: cancels between numerator and denominator
            dash = dash - dash.amax(-1, keepdim=True).detach()
        return torch.exp(dash) / math.sqrt(self.features)

    def attend(self, q, k, v, ctx):
        fq, fk = self.feature_map(q, True), self.feature_map(k, False)  # (B, H, T, m)
        if ctx.key_padding is not None:
            fk = fk * ctx.key_padding[:, None, :, None].to(fk.dtype)
        if self.hook_pattern.active or ctx.output_attentions or ctx.segment_ids is not None or (
                ctx.structure_mask is not None and not is_bidirectional(ctx)):
            a = (fq @ fk.transpose(-1, -2)) * self.allowed(q.shape[-2], ctx).to(fq.dtype)
            pattern = self.hook_pattern(a / (a.sum(-1, keepdim=True) + EPS))
            return pattern @ v, pattern
        if is_bidirectional(ctx):
            kv = torch.einsum("bhsm,bhsd->bhmd", fk, v)
            num, den = fq @ kv, fq @ fk.sum(-2).unsqueeze(-1)
        else:  # causal: prefix sums over the keys up to each query
            kv = torch.einsum("bhsm,bhsd->bhsmd", fk, v).cumsum(2)
            num = torch.einsum("bhtm,bhtmd->bhtd", fq, kv)
            den = (fq * fk.cumsum(2)).sum(-1, keepdim=True)
        return num / (den + EPS), None

    def extra_repr(self):
        return f"{super().extra_repr()}, features={self.features}, feature_seed={self.feature_seed}"
