"""Superlinear multi-step attention, N=2: span search then span attention (arXiv 2601.18401;
shared/papers/superlinear.md). Per head, the sequence is cut into fixed spans [jb, (j+1)b):

1. accumulation: a representative per span, r_j = W_r · mean(k_s, s in span j), from the keys
   before rotary positions (content only); only keys the query may see count (under another
   structure than causal, e.g. packed documents, a span's mean holds only the query's document). The paper accumulates with the Mamba-2 layers of its
   hybrid model; mean-pooled keys are our substitute;
2. span search: router query u_i = W_u x_i, scores s_ij = u_i·r_j/√d over the candidate spans
   (every span other than the query's own block that holds a key the query may see), top-k kept,
   plus the query's own block, scored with r_own = W_r · (mean of the block's keys up to i);
3. span attention: softmax attention of q_i over the tokens of each kept span separately, o_ij;
4. combination: o_i = Σ_{j kept} softmax_j(s_ij) · o_ij (the gate that makes routing learnable).

Cost per query: (L/b)·d for the search plus (k+1)·b·d for the attention; O(L^{3/2}) at b = √L.

Two implementations of the same function:
- `masked_span_attention`: a dense emulation for training (all T×T scores, a within-span softmax,
  the gate weights broadcast over each span's tokens): L² cost, any structure mask (causal, prefix,
  segments, padding), the pattern and the kept spans observable (`hook_pattern`, `hook_route`);
- `gathered_span_attention`: the spec's timing implementation for the plain causal pattern: span
  keys gathered by index (`index_select` per batch×head), queries in chunks of `chunk`; O(L^{3/2});
- `span_major_attention` (ours, reported beside it): the same operations span-major (the queries
  that kept a span gathered, one matrix product with its keys, outputs added back), which copies
  O(L) query rows instead of O(L^{3/2}) key and value rows.
The layer uses the gathered (or span-major) one only with `impl="gathered"` (`"span_major"`), a
plain causal context and nothing hooked; otherwise the masked one. Unit tests require them to
agree within 1e-5.

Options: `span` b (None: round(√T) of each call, as the timing sweep's b = √L), `top_k` k,
`impl` "masked" | "gathered" | "span_major", `chunk` (queries per chunk of the gathered implementation).
Extra hook point: `hook_route` (batch, head, query, span) bool, the spans each query keeps (its
own block included), in the masked implementation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.attention.base import Attention, masked_softmax
from attnlab.hooks import HookPoint

IMPLS = ("masked", "gathered", "span_major")


def span_length(T: int, span: int | None) -> int:
    """The span length b: `span`, or round(√T) when None (at least 1)."""
    return int(span) if span else max(1, round(math.sqrt(T)))


def analytic_flops(L: int, d: int, span: int | None = None, top_k: int = 2) -> float:
    """Multiply-adds × 2 of one head's forward span search + span attention at length L (the
    spec's cost per query, summed over L queries): search (L/b)·d, attention (k+1)·b·d for the
    scores and as much for the weighted values: 2·L·((L/b)·d + 2·(k+1)·b·d)."""
    b = span_length(L, span)
    return 2.0 * L * ((L / b) * d + 2 * (top_k + 1) * b * d)


def _representatives(kr: torch.Tensor, w_r: torch.Tensor, b: int, n: int):
    """(span means, own-block prefix means) after W_r: (B, H, n, d) and (B, H, n·b, d)."""
    B, H, T, D = kr.shape
    pad = n * b - T
    blocks = F.pad(kr, (0, 0, 0, pad)).view(B, H, n, b, D)
    counts = (T - torch.arange(n, device=kr.device) * b).clamp(max=b).to(kr.dtype)
    means = blocks.sum(3) / counts[:, None]
    prefix = blocks.cumsum(3) / torch.arange(1, b + 1, device=kr.device, dtype=kr.dtype)[:, None]
    project = lambda t: torch.einsum("bhnd,hed->bhne", t, w_r)  # noqa: E731
    return project(means), project(prefix.reshape(B, H, n * b, D))


def span_candidates(allowed: torch.Tensor, b: int):
    """Which spans query i may search: (candidates, own block, has an allowed key), the first and
    last (..., T, n spans) bool, the own block (T, n). A candidate is any span other than the
    query's own block holding a key the query may see (`allowed` (..., T, T))."""
    T = allowed.shape[-1]
    n = -(-T // b)
    blk = torch.arange(T, device=allowed.device) // b
    is_own = blk[:, None] == torch.arange(n, device=allowed.device)[None]
    has_key = F.pad(allowed, (0, n * b - T)).view(*allowed.shape[:-1], n, b).any(-1)
    return has_key & ~is_own, is_own, has_key


def masked_span_attention(q, k, v, u, kr, w_r, span: int, top_k: int, allowed: torch.Tensor):
    """The dense masked emulation. q, k, v (rotated), u (router queries), kr (keys for the
    representatives): (B, H, T, d); w_r (H, d, d); allowed (B or 1, 1 or H, T, T) bool.
    Returns (z (B, H, T, d), pattern (B, H, T, T), kept (B, H, T, n spans) bool)."""
    B, H, T, D = q.shape
    b = span
    n = -(-T // b)
    pad = n * b - T
    allowed = allowed.expand(B, H, T, T)
    allowed_sp = F.pad(allowed, (0, pad)).view(B, H, T, n, b)
    cand, is_own, has_key = span_candidates(allowed, b)
    # each span's representative for query i: the mean of its keys that i may see (under the causal
    # pattern: the whole span before the query's block, the prefix up to i of its own block)
    a = allowed_sp.to(kr.dtype)
    sums = torch.einsum("bhtnj,bhnjd->bhtnd", a, F.pad(kr, (0, 0, 0, pad)).view(B, H, n, b, D))
    reps = torch.einsum("bhtnd,hed->bhtne", sums / a.sum(-1, keepdim=True).clamp(min=1), w_r)
    gate = (u[:, :, :, None] * reps).sum(-1) / math.sqrt(D)
    ranked = gate.detach().masked_fill(~cand, float("-inf"))
    top = ranked.topk(min(top_k, n), dim=-1).indices
    chosen = torch.zeros_like(cand).scatter(-1, top, True) & cand
    kept = chosen | (is_own & has_key)
    weights = masked_softmax(gate, kept)  # (B, H, T, n)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    within = masked_softmax(F.pad(scores, (0, pad)).view(B, H, T, n, b), allowed_sp)
    pattern = (within * weights[..., None]).reshape(B, H, T, n * b)[..., :T]
    return pattern @ v, pattern, kept


def gathered_span_attention(q, k, v, u, kr, w_r, span: int, top_k: int, chunk: int = 512):
    """The same function for the plain causal pattern, computed at O(L^{3/2}): per query the gate
    scores against every earlier complete span, the top-k spans' keys and values gathered by index
    (`index_select` per batch×head), the own block's causal attention block by block."""
    B, H, T, D = q.shape
    b = span
    n = -(-T // b)
    pad = n * b - T
    scale = 1.0 / math.sqrt(D)
    reps, own_reps = _representatives(kr, w_r, b, n)
    kb = F.pad(k, (0, 0, 0, pad)).view(B, H, n, b, D)
    vb = F.pad(v, (0, 0, 0, pad)).view(B, H, n, b, D)
    # own block: causal attention inside each block, the gate score u_i·r_own(i)
    qb = F.pad(q, (0, 0, 0, pad)).view(B, H, n, b, D)
    causal = torch.ones(b, b, dtype=torch.bool, device=q.device).tril()
    own_s = (qb @ kb.transpose(-1, -2) * scale).masked_fill(~causal, float("-inf"))
    own_o = (torch.softmax(own_s, -1) @ vb).reshape(B, H, n * b, D)[:, :, :T]
    own_gate = (u * own_reps[:, :, :T]).sum(-1) * scale  # (B, H, T)
    kk = min(top_k, n)
    blk = torch.arange(T, device=q.device) // b
    spans = torch.arange(n, device=q.device)
    kf, vf = kb.reshape(B * H, n, b * D), vb.reshape(B * H, n, b * D)
    out = []
    for c0 in range(0, T, chunk):
        c1 = min(T, c0 + chunk)
        C = c1 - c0
        g = (u[:, :, c0:c1] @ reps.transpose(-1, -2)) * scale  # (B, H, C, n)
        cand = spans[None, :] < blk[c0:c1, None]  # complete spans before the query's block
        val, idx = g.masked_fill(~cand, float("-inf")).topk(kk, dim=-1)  # (B, H, C, kk)
        flat = idx.reshape(B * H, C * kk)
        kg = torch.stack([kf[i].index_select(0, flat[i]) for i in range(B * H)]).view(B, H, C, kk, b, D)
        vg = torch.stack([vf[i].index_select(0, flat[i]) for i in range(B * H)]).view(B, H, C, kk, b, D)
        s = torch.einsum("bhcd,bhckjd->bhckj", q[:, :, c0:c1], kg) * scale
        o = torch.einsum("bhckj,bhckjd->bhckd", torch.softmax(s, -1), vg)  # (B, H, C, kk, D)
        w = torch.softmax(torch.cat([val, own_gate[:, :, c0:c1, None]], -1), -1)  # invalid spans: -inf -> 0
        out.append((w[..., :kk, None] * o).sum(3) + w[..., kk:] * own_o[:, :, c0:c1])
    return torch.cat(out, dim=2)


def span_major_attention(q, k, v, u, kr, w_r, span: int, top_k: int, chunk: int = 512):
    """`gathered_span_attention` reorganised span-major (an alternative of ours, not the spec's):
    the same search in chunks; then per (batch×head) and span, the queries that kept it are
    gathered (`index_select`) and attend to its b keys in one matrix product, their outputs added
    back weighted by the gate (`index_add_`). The same O(L^{3/2}) operations with O(L) copies (each
    query once per kept span) in place of O(L^{3/2}) copies of span keys and values."""
    B, H, T, D = q.shape
    b = span
    n = -(-T // b)
    pad = n * b - T
    scale = 1.0 / math.sqrt(D)
    reps, own_reps = _representatives(kr, w_r, b, n)
    kb = F.pad(k, (0, 0, 0, pad)).view(B * H, n, b, D)
    vb = F.pad(v, (0, 0, 0, pad)).view(B * H, n, b, D)
    # own block: causal attention inside each block, the gate score u_i·r_own(i)
    qb = F.pad(q, (0, 0, 0, pad)).view(B * H, n, b, D)
    causal = torch.ones(b, b, dtype=torch.bool, device=q.device).tril()
    own_s = (qb @ kb.transpose(-1, -2) * scale).masked_fill(~causal, float("-inf"))
    own_o = (torch.softmax(own_s, -1) @ vb).reshape(B, H, n * b, D)[:, :, :T]
    own_gate = (u * own_reps[:, :, :T]).sum(-1) * scale  # (B, H, T)
    # span search: top-k of the complete spans before the query's block
    kk = min(top_k, n)
    blk = torch.arange(T, device=q.device) // b
    spans = torch.arange(n, device=q.device)
    vals, idxs = [], []
    for c0 in range(0, T, chunk):
        c1 = min(T, c0 + chunk)
        g = (u[:, :, c0:c1] @ reps.transpose(-1, -2)) * scale  # (B, H, C, n)
        val, idx = g.masked_fill(~(spans[None, :] < blk[c0:c1, None]), float("-inf")).topk(kk, dim=-1)
        vals.append(val), idxs.append(idx)
    val, idx = torch.cat(vals, 2), torch.cat(idxs, 2)  # (B, H, T, kk); -inf: fewer than kk candidates
    w = torch.softmax(torch.cat([val, own_gate[..., None]], -1), -1)
    out = (w[..., kk:] * own_o).reshape(B * H, T, D)
    qf = q.reshape(B * H, T, D)
    query = torch.arange(T, device=q.device).repeat_interleave(kk)
    for bh in range(B * H):
        sp, wt = idx[bh // H, bh % H].reshape(-1), w[bh // H, bh % H, :, :kk].reshape(-1)
        keep = torch.isfinite(val[bh // H, bh % H].reshape(-1))
        sp, wt, qi = sp[keep], wt[keep], query[keep]
        order = torch.argsort(sp, stable=True)
        sp, wt, qi = sp[order], wt[order], qi[order]
        counts = torch.bincount(sp, minlength=n).tolist()
        qs = qf[bh].index_select(0, qi)  # (pairs, D): each query once per span it kept
        outs = []
        for j, part in enumerate(torch.split(qs, counts)):
            if counts[j]:
                outs.append(torch.softmax(part @ kb[bh, j].T * scale, -1) @ vb[bh, j])
        if outs:
            out[bh].index_add_(0, qi, torch.cat(outs) * wt[:, None])
    return out.view(B, H, T, D)


class SuperlinearAttention(Attention):
    per_query_keys = False  # span summaries shared by every query: no per-query key positions (refused, not ignored)
    def __init__(self, config, layer_idx: int = 0, span: int | None = 16, top_k: int = 2, impl: str = "masked",
                 chunk: int = 512):
        super().__init__(config, layer_idx)
        if span is not None and span < 1:
            raise ValueError(f"span must be >= 1 (or None: round(√T)), got {span}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.span, self.top_k, self.impl, self.chunk = span, top_k, impl, chunk
        H, D = self.n_head, self.head_dim
        self.router = nn.Linear(config.n_embd, H * D, bias=False)  # W_u, every head's router query
        self.span_proj = nn.Parameter(torch.eye(D).repeat(H, 1, 1))  # W_r per head (identity at init)
        self.hook_route = HookPoint()
        self._x: torch.Tensor | None = None

    def init_extra_parameters(self, init):
        with torch.no_grad():
            self.span_proj.copy_(torch.eye(self.head_dim).repeat(self.n_head, 1, 1))

    def forward(self, x, ctx):
        self._x = x  # the router reads the layer's input
        try:
            return super().forward(x, ctx)
        finally:
            self._x = None

    def _router_inputs(self, x):
        """(u, kr): router queries W_u x and the keys before rotary positions, (B, H, T, d)."""
        B, T, _ = x.shape
        d = self.d_model
        kr = F.linear(x, self.c_attn.weight[d:2 * d], self.c_attn.bias[d:2 * d])
        heads = lambda t: t.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # noqa: E731
        return heads(self.router(x)), heads(kr)

    def attend(self, q, k, v, ctx):
        u, kr = self._router_inputs(self._x)
        b = span_length(q.shape[-2], self.span)
        observed = self.hook_pattern.active or self.hook_route.active or ctx.output_attentions
        if self.impl != "masked" and ctx.plain_causal and not observed:
            fast = gathered_span_attention if self.impl == "gathered" else span_major_attention
            return fast(q, k, v, u, kr, self.span_proj, b, self.top_k, self.chunk), None
        z, pattern, kept = masked_span_attention(q, k, v, u, kr, self.span_proj, b, self.top_k,
                                                 self.allowed(q.shape[-2], ctx))
        self.hook_route(kept)
        return z, self.hook_pattern(pattern)

    def extra_repr(self):
        return f"{super().extra_repr()}, span={self.span}, top_k={self.top_k}, impl={self.impl}"
