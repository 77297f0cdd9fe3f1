"""Linear attention with a per-feature decay, in three equal forms (for the decay mechanisms:
`lightnet`, `decay`):

    S_t = diag(λ_t) S_{t−1} + k'_t v_tᵀ,   o_t = S_tᵀ q_t          (recurrent: one scan)
    o_t = Σ_{s≤t} Σ_f q_tf exp(G_tf − G_sf) k'_sf v_s              (parallel, G_t = Σ_{u≤t} log λ_u)

`recurrent` runs the scan step by step (the reference), `parallel_pattern` builds the (query, key)
weights over any allowed set of keys (a dense O(L²) emulation), and `chunked` computes the causal
form in chunks of C positions: exact within a chunk, a carried state between chunks, O(L·C·F + L·F·D)
time, linear in L. Every exponent taken is ≤ 0, so long sequences neither overflow nor lose the
state. Shapes: q, k' (batch, head, pos, F); v (batch, head, pos, D); G (batch or 1, head, pos, F),
non-increasing along pos.
"""

from __future__ import annotations

import torch


def recurrent(q, kp, v, G):
    B, H, T, F = kp.shape
    S = torch.zeros(B, H, F, v.shape[-1], dtype=v.dtype, device=v.device)
    G = G.expand(B, H, T, F)
    out = []
    for t in range(T):
        lam = torch.exp(G[:, :, t] - G[:, :, t - 1]) if t else torch.ones_like(G[:, :, 0])
        S = lam[..., None] * S + kp[:, :, t, :, None] * v[:, :, t, None, :]
        out.append((q[:, :, t, :, None] * S).sum(-2))
    return torch.stack(out, 2)


def causal_weights(q, kp, G, allowed=None):
    """(batch, head, query, key): Σ_f q_tf exp(G_tf − G_sf) k'_sf for s ≤ t (and allowed)."""
    T = q.shape[-2]
    tri = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    if allowed is not None:
        tri = tri & allowed
    diff = G[..., :, None, :] - G[..., None, :, :]  # (b, h, t, s, F)
    diff = diff.masked_fill(~tri[..., None], float("-inf"))
    return torch.einsum("bhtf,bhtsf,bhsf->bhts", q, torch.exp(diff), kp)


def chunked(q, kp, v, G, chunk: int = 64):
    B, H, T, F = kp.shape
    G = G.expand(B, H, T, F)
    S = torch.zeros(B, H, F, v.shape[-1], dtype=v.dtype, device=v.device)
    outs = []
    for a in range(0, T, chunk):
        b = min(a + chunk, T)
        qc, kc, vc, Gc = q[:, :, a:b], kp[:, :, a:b], v[:, :, a:b], G[:, :, a:b]
        G0 = G[:, :, a - 1 : a] if a else Gc[:, :, :1]  # the state's reference position
        inter = (qc * torch.exp(Gc - G0)) @ S  # (b, h, C, D)
        intra = causal_weights(qc, kc, Gc) @ vc
        outs.append(inter + intra)
        last = Gc[:, :, -1:]
        S = torch.exp(last - G0).transpose(-1, -2) * S + (kc * torch.exp(last - Gc)).transpose(-1, -2) @ vc
    return torch.cat(outs, 2)
