"""ABC: attention with bounded-memory control (Peng et al. 2022, arXiv 2110.02488), in CAB's form
(arXiv 2210.07661, efficient-attention/modules/abc.py): n memory slots summarise the keys and the
values, and each query attends to the slots,

    K̃ = softmax_over_keys(K W_k)ᵀ K,   Ṽ = softmax_over_keys(V W_v)ᵀ V     (n × d_head each)
    out_i = softmax(q_i K̃ᵀ / √d) Ṽ

with per-head learned slot projections W_k, W_v (d_head × n). Forms:
- bidirectional context (noncausal self, cross): the slots summarise every real key;
- no structure mask (causal): prefix-normalised slots, K̃_t = Σ_{s≤t} e^{α_s} k_s / Σ_{s≤t} e^{α_s}
  (prefix sums with the first position's score as the reference, so that nothing after t enters the
  arithmetic of t; scores more than 80 above position 0's are clamped there);
- any other structure: the slots of query t summarise exactly its allowed keys (quadratic form).
`hook_pattern` sees the effective pattern over keys, A_ts = Σ_j softmax_j(q_t K̃_tᵀ/√d) w^V_tjs
(rows sum to 1). With n = T slots whose scores pick one key each, ABC is softmax attention.
"""

from __future__ import annotations

import math

import torch

from attnlab.attention.base import Attention, masked_softmax
from attnlab.attention.patterns import is_bidirectional


class ABCAttention(Attention):
    per_query_keys = False  # keys enter through shared features/slots (no per-query key positions)

    def __init__(self, config, layer_idx: int = 0, slots: int = 16):
        super().__init__(config, layer_idx)
        if slots < 1:
            raise ValueError(f"abc: slots must be >= 1, got {slots}")
        self.slots = slots
        self.w_k = torch.nn.Parameter(torch.empty(self.n_head, self.head_dim, slots))
        self.w_v = torch.nn.Parameter(torch.empty(self.n_head, self.head_dim, slots))
        torch.nn.init.normal_(self.w_k, std=self.head_dim ** -0.5)
        torch.nn.init.normal_(self.w_v, std=self.head_dim ** -0.5)

    def init_extra_parameters(self, init):
        init.normal_(self.w_k, mean=0.0, std=self.head_dim ** -0.5)
        init.normal_(self.w_v, mean=0.0, std=self.head_dim ** -0.5)

    def slot_scores(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(B, H, T, d_head) keys or values -> (B, H, T, n) scores α of each position for each slot."""
        return torch.einsum("bhtd,hdn->bhtn", x, w.to(x.dtype))

    def attend(self, q, k, v, ctx):
        ak, av = self.slot_scores(k, self.w_k), self.slot_scores(v, self.w_v)
        if self.hook_pattern.active or ctx.output_attentions or ctx.segment_ids is not None or (
                ctx.structure_mask is not None and not is_bidirectional(ctx)):
            return self._general(q, k, v, ak, av, self.allowed(q.shape[-2], ctx))
        if is_bidirectional(ctx):
            keep = None if ctx.key_padding is None else ctx.key_padding[:, None, None, :]  # (B, 1, 1, S)
            wk, wv = (self._over_keys(a.transpose(-1, -2), keep) for a in (ak, av))  # (B, H, n, S)
            k_slots, v_slots = wk @ k, wv @ v  # (B, H, n, d)
            p = torch.softmax(self.scores(q, k_slots), -1)
            return p @ v_slots, None
        # K̃_t = N^K_t / D^K_t: the division moves onto the (B, H, T, n) scores and weights, d times
        # smaller than the slots themselves
        (nk, dk), (nv, dv) = self._prefix(k, ak, ctx), self._prefix(v, av, ctx)  # (B, H, T, n, d), (B, H, T, n)
        p = torch.softmax(torch.einsum("bhtd,bhtnd->bhtn", q, nk) / (dk * math.sqrt(self.head_dim)), -1)
        return torch.einsum("bhtn,bhtnd->bhtd", p / dv, nv), None

    @staticmethod
    def _over_keys(scores, keep):
        """Softmax over the key axis (last), padded keys excluded."""
        if keep is None:
            return torch.softmax(scores, -1)
        return masked_softmax(scores, keep)

    @staticmethod
    def _prefix(x, alpha, ctx):
        """Prefix sums of the slots: N (B, H, T, n, d) and D (B, H, T, n), N_tj = Σ_{s≤t} e^{α_sj − α_0j} x_s,
        D_tj = Σ_{s≤t} e^{α_sj − α_0j}; slot j at t is N_tj / D_tj (D ≥ 1: position 0 contributes e^0).

        The reference is position 0, in every prefix, so no future score enters a past slot. In x's
        dtype (a float64 pass was ~2x slower and dominated CAB's causal training): a score more than
        80 above position 0's is clamped there (e^80 ~ 5.5e34, inside float32; float64 overflowed at
        709), which no data-dependent branch could do under vmap."""
        w = torch.exp((alpha - alpha[:, :, :1]).clamp(max=80.0))
        if ctx.key_padding is not None:
            w = w * ctx.key_padding[:, None, :, None].to(w.dtype)
        num = torch.einsum("bhsn,bhsd->bhsnd", w, x).cumsum(2)
        den = w.cumsum(2).clamp_min(torch.finfo(w.dtype).tiny)  # a left-padded prefix has no weight yet
        return num, den

    def _general(self, q, k, v, ak, av, allowed):
        """Any structure: query t's slots summarise its allowed keys. allowed: (B or 1, 1, Tq, Tk)."""
        keep = allowed.unsqueeze(-2)  # (B, 1, Tq, 1, Tk)
        wk = masked_softmax(ak.transpose(-1, -2).unsqueeze(2), keep)  # (B, H, Tq, n, Tk)
        wv = masked_softmax(av.transpose(-1, -2).unsqueeze(2), keep)
        k_slots, v_slots = wk @ k.unsqueeze(2), wv @ v.unsqueeze(2)  # (B, H, Tq, n, d)
        p = masked_softmax(self.scores(q.unsqueeze(-2), k_slots).squeeze(-2), allowed.any(-1, keepdim=True))
        pattern = self.hook_pattern((p.unsqueeze(-1) * wv).sum(-2))  # (B, H, Tq, Tk)
        return (p.unsqueeze(-1) * v_slots).sum(-2), pattern

    def extra_repr(self):
        return f"{super().extra_repr()}, slots={self.slots}"
