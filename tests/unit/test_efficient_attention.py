"""The efficient mechanisms CAB names (performer, abc, local = sliding_window) against dense softmax
attention on hand-made inputs where they must agree, and their linear-time forms (global sums for a
bidirectional context, prefix sums for a causal one) against the exact quadratic form."""

import math

import pytest
import torch

from attnlab.attention import mechanism_class
from attnlab.attention.base import AttentionContext, causal_mask, masked_softmax
from attnlab.attention.patterns import full_context


class Cfg:
    def __init__(self, n_embd=32, n_head=4):
        self.n_embd, self.n_head = n_embd, n_head


def mech(name, n_embd=32, n_head=4, **opts):
    torch.manual_seed(0)
    return mechanism_class(name)(Cfg(n_embd, n_head), 0, **opts).eval()


def qkv(B=2, H=4, T=10, D=8, seed=0, scale=1.0, S=None):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(B, H, T, D, generator=g), scale * torch.randn(B, H, S or T, D, generator=g),
            torch.randn(B, H, S or T, D, generator=g))


def dense(q, k, v, allowed):
    p = masked_softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), allowed)
    return p @ v


def pos(B, T):
    return torch.arange(T).expand(B, T)


def causal_ctx(B, T, **kw):
    return AttentionContext(position_ids=pos(B, T), **kw)


def test_performer_features_are_orthogonal_blocks_and_positive():
    a = mech("performer", features=20)  # d_head 8: blocks of 8, 8, 4 rows
    w = a.omega
    blocks = [w[:8], w[8:16]]
    for blk in blocks:
        u = blk / blk.norm(dim=-1, keepdim=True)
        torch.testing.assert_close(u @ u.T, torch.eye(8), atol=1e-5, rtol=0)
    q, _, _ = qkv()
    assert torch.all(a.feature_map(q, True) > 0) and torch.all(a.feature_map(q, False) > 0)


@pytest.mark.parametrize("causal", [False, True])
def test_performer_with_many_features_approximates_softmax(causal):
    """E[φ(q)·φ(k)] = exp(q·k/√d): with m = 16384 features the outputs approach dense attention's,
    and the error shrinks as m grows."""
    q, k, v = qkv(B=1, T=12, scale=0.5)
    allowed = causal_mask(12, "cpu")[None, None] if causal else torch.ones(1, 1, 12, 12, dtype=torch.bool)
    ref = dense(q, k, v, allowed)
    errs = []
    for m in (16, 16384):
        a = mech("performer", features=m)
        ctx = causal_ctx(1, 12) if causal else full_context(pos(1, 12))
        errs.append(float((a.attend(q, k, v, ctx)[0] - ref).abs().max()))
    assert errs[1] < 0.05 and errs[1] < errs[0] / 3, errs


def test_performer_linear_forms_equal_the_quadratic_form():
    a = mech("performer", features=16)
    q, k, v = qkv(T=9)
    pad = torch.ones(2, 9, dtype=torch.bool)
    pad[1, 6:] = False
    # bidirectional with padding: global sums = the masked quadratic form
    ctx = full_context(pos(2, 9), key_padding=pad)
    lin, _ = a.attend(q, k, v, ctx)
    quad, pattern = a.attend(q, k, v, full_context(pos(2, 9), key_padding=pad, output_attentions=True))
    torch.testing.assert_close(lin, quad, rtol=1e-4, atol=1e-5)
    assert pattern[1, ..., 6:].abs().max() == 0
    # causal: prefix sums = the quadratic form under the explicit causal mask
    lin, _ = a.attend(q, k, v, causal_ctx(2, 9))
    quad, _ = a.attend(q, k, v, causal_ctx(2, 9, structure_mask=causal_mask(9, "cpu")[None]))
    torch.testing.assert_close(lin, quad, rtol=1e-4, atol=1e-5)


def test_performer_cross_attention_with_more_keys_than_queries():
    a = mech("performer", features=16384)
    q, k, v = qkv(B=1, T=5, S=11, scale=0.5)
    out, _ = a.attend(q, k, v, full_context(pos(1, 5), n_keys=11))
    torch.testing.assert_close(out, dense(q, k, v, torch.ones(1, 1, 5, 11, dtype=torch.bool)), atol=0.05, rtol=0)


def one_hot_abc(T=8, D=8):
    """Keys 10·e_s and slot projections W = 10·I: slot j's scores over positions are 100·δ_sj, so
    slot j holds exactly key j and value j (the values are one-hot too)."""
    a = mech("abc", n_embd=D, n_head=1, slots=D)
    with torch.no_grad():
        a.w_k.copy_(10 * torch.eye(D)[None])
        a.w_v.copy_(10 * torch.eye(D)[None])
    k = 10 * torch.eye(D)[:T][None, None]
    v = 10 * torch.eye(D)[:T][None, None]
    q = torch.randn(1, 1, T, D, generator=torch.Generator().manual_seed(0))
    return a, q, k, v


def test_abc_with_one_slot_per_key_is_softmax_attention():
    a, q, k, v = one_hot_abc(T=8, D=8)
    out, _ = a.attend(q, k, v, full_context(pos(1, 8)))
    torch.testing.assert_close(out, dense(q, k, v, torch.ones(1, 1, 8, 8, dtype=torch.bool)), atol=1e-4, rtol=0)


def test_abc_with_one_slot_averages_all_values_under_uniform_scores():
    a = mech("abc", slots=1)
    with torch.no_grad():
        a.w_k.zero_()
        a.w_v.zero_()
    q, k, v = qkv(T=7)
    out, _ = a.attend(q, k, v, full_context(pos(2, 7)))
    torch.testing.assert_close(out, v.mean(-2, keepdim=True).expand_as(out), atol=1e-5, rtol=0)


def test_abc_causal_prefix_sums_equal_abc_on_each_prefix():
    """Prefix-normalised slots: output t is exactly what bidirectional ABC computes on keys 0..t."""
    a = mech("abc", slots=4)
    q, k, v = qkv(T=9)
    out, _ = a.attend(q, k, v, causal_ctx(2, 9))
    for t in range(9):
        ref, _ = a.attend(q[:, :, t:t + 1], k[:, :, : t + 1], v[:, :, : t + 1], full_context(pos(2, 1), n_keys=t + 1))
        torch.testing.assert_close(out[:, :, t:t + 1], ref, rtol=1e-4, atol=1e-5)
    general, pattern = a.attend(q, k, v, causal_ctx(2, 9, structure_mask=causal_mask(9, "cpu")[None]))
    torch.testing.assert_close(out, general, rtol=1e-4, atol=1e-5)
    assert torch.all(pattern.triu(1) == 0)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(2, 4, 9))
    torch.testing.assert_close(pattern @ v, out, rtol=1e-4, atol=1e-5)  # the effective pattern is exact


def test_abc_bidirectional_honours_key_padding():
    a = mech("abc", slots=4)
    q, k, v = qkv(T=9)
    pad = torch.ones(2, 9, dtype=torch.bool)
    pad[1, 6:] = False
    out, _ = a.attend(q, k, v, full_context(pos(2, 9), key_padding=pad))
    alone, _ = a.attend(q[1:], k[1:, :, :6], v[1:, :, :6], full_context(pos(1, 9), n_keys=6))
    torch.testing.assert_close(out[1:], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("w", [1, 3])
def test_local_attention_is_dense_attention_in_its_window(w):
    """Noncausal local: keys |i − j| < w; causal local: keys i−w+1..i (sliding_window under both)."""
    a = mech("sliding_window", window=w)
    q, k, v = qkv(T=10)
    i = torch.arange(10)
    band = (i[:, None] - i[None, :]).abs() < w
    out, _ = a.attend(q, k, v, full_context(pos(2, 10)))
    torch.testing.assert_close(out, dense(q, k, v, band[None, None]), rtol=1e-4, atol=1e-5)
    out, _ = a.attend(q, k, v, causal_ctx(2, 10))
    torch.testing.assert_close(out, dense(q, k, v, (band & causal_mask(10, "cpu"))[None, None]), rtol=1e-4, atol=1e-5)
