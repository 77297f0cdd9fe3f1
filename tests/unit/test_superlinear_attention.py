"""Superlinear span-search attention (N=2): the masked emulation and the gathered implementation
compute the same function; structural non-exclusion; the routing is learnable (gradients reach the
router); the analytic cost exponent is 1.5 and the work per query matches its formula."""

import math

import pytest
import torch

from attnlab.attention.base import causal_mask
from attnlab.attention.superlinear import (
    SuperlinearAttention,
    analytic_flops,
    gathered_span_attention,
    masked_span_attention,
    span_candidates,
    span_length,
    span_major_attention,
)
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.metrics.scaling import analytic_slope, power_law


def inputs(T, B=2, H=3, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v, u, kr = (torch.randn(B, H, T, D, generator=g) for _ in range(5))
    return q, k, v, u, kr, torch.randn(H, D, D, generator=g)


@pytest.mark.parametrize("T,b,top_k,chunk", [(37, 6, 2, 7), (64, 8, 2, 512), (100, 10, 3, 33), (128, 16, 2, 50),
                                             (20, 4, 1, 3)])
def test_gathered_equals_masked(T, b, top_k, chunk):
    q, k, v, u, kr, w = inputs(T)
    z1, _, _ = masked_span_attention(q, k, v, u, kr, w, b, top_k, causal_mask(T, "cpu")[None, None])
    z2 = gathered_span_attention(q, k, v, u, kr, w, b, top_k, chunk=chunk)
    assert (z1 - z2).abs().max() < 1e-5
    z3 = span_major_attention(q, k, v, u, kr, w, b, top_k, chunk=chunk)
    assert (z1 - z3).abs().max() < 1e-5


def test_the_layer_gives_the_same_outputs_with_either_implementation():
    torch.manual_seed(0)
    cfg = AttnLMConfig(vocab_size=16, n_embd=32, n_head=4, n_layer=1, attention="superlinear",
                       attention_options={"span": None, "top_k": 2, "impl": "gathered", "chunk": 16})
    gathered = SuperlinearAttention(cfg, 0, span=None, top_k=2, impl="gathered", chunk=16)
    masked = SuperlinearAttention(cfg, 0, span=None, top_k=2, impl="masked")
    masked.load_state_dict(gathered.state_dict())
    with torch.no_grad():
        gathered.span_proj.normal_()
        masked.span_proj.copy_(gathered.span_proj)
    from attnlab.attention.base import AttentionContext

    x = torch.randn(2, 90, 32)
    ctx = AttentionContext(position_ids=torch.arange(90)[None], rope_theta=10000.0)
    with torch.no_grad():
        assert (gathered(x, ctx)[0] - masked(x, ctx)[0]).abs().max() < 1e-5


def test_the_pattern_attends_at_most_k_plus_one_spans_and_sums_to_one():
    T, b, k = 128, 16, 2
    q, kk, v, u, kr, w = inputs(T)
    _, pattern, kept = masked_span_attention(q, kk, v, u, kr, w, b, k, causal_mask(T, "cpu")[None, None])
    assert torch.allclose(pattern.sum(-1), torch.ones(()), atol=1e-5)
    assert (pattern > 0).sum(-1).max() <= (k + 1) * b  # the spec's (k+1)·b attended budget: 48
    assert kept.sum(-1).max() <= k + 1
    assert (pattern.triu(1) == 0).all()  # causal
    # the kept spans are those holding the pattern's mass
    mass = pattern.view(*pattern.shape[:-1], T // b, b).sum(-1) > 0
    assert (mass == kept).all()


def test_structural_non_exclusion():
    """Every key position <= i lies in a candidate span of query i or in its own block (the block
    grid excludes nothing), and each candidate span can be selected: a router aligned with its
    representative keeps it."""
    T, b = 50, 7
    cand, is_own, _ = span_candidates(causal_mask(T, "cpu")[None, None], b)
    for i in range(T):
        for s in range(i + 1):
            assert cand[0, 0, i, s // b] or is_own[i, s // b]
    g = torch.Generator().manual_seed(3)
    for i, s in [(49, 0), (49, 20), (30, 8), (21, 3)]:
        q, k, v, u, kr, w = inputs(T, B=1, H=1, seed=i)
        j = s // b
        kr[0, 0, j * b:(j + 1) * b] += 20 * torch.randn(8, generator=g)  # a distinctive span...
        u[0, 0, i] = kr[0, 0, j * b:(j + 1) * b].mean(0)  # ...which query i's router looks for
        w = torch.eye(8)[None]
        _, pattern, kept = masked_span_attention(q, k, v, u, kr, w, b, 1, causal_mask(T, "cpu")[None, None])
        assert kept[0, 0, i, j] and pattern[0, 0, i, s] > 0


def test_routing_is_learnable():
    """The gate softmax carries gradient to the router (W_u) and the span projection (W_r)."""
    torch.manual_seed(0)
    cfg = AttnLMConfig(vocab_size=20, n_positions=64, n_embd=32, n_head=4, n_layer=2, attention="superlinear",
                       attention_options={"span": 8, "top_k": 2}, position_encoding="rope")
    model = AttnLMForCausalLM(cfg)
    x = torch.randint(0, 20, (2, 64))
    model(x, labels=x).loss.backward()
    for blk in model.blocks:
        assert blk.attn.router.weight.grad.abs().sum() > 0
        assert blk.attn.span_proj.grad.abs().sum() > 0


def test_the_route_hook_and_a_length_beyond_the_grid():
    from attnlab.hooks import run_with_cache

    torch.manual_seed(0)
    cfg = AttnLMConfig(vocab_size=20, n_positions=256, n_embd=32, n_head=4, n_layer=2, attention="superlinear",
                       attention_options={"span": 16, "top_k": 2}, position_encoding="rope")
    model = AttnLMForCausalLM(cfg).eval()
    x = torch.randint(0, 20, (2, 201))  # not a multiple of the span length
    out, cache = run_with_cache(model, x, names=["blocks.1.attn.hook_route"])
    kept = cache["blocks.1.attn.hook_route"]
    assert kept.shape == (2, 4, 201, 13) and torch.isfinite(out.logits).all()
    assert (kept.sum(-1) <= 3).all() and kept[:, :, 200, 12].all()  # the own block is always kept


def test_analytic_exponent():
    lengths = [1024, 2048, 4096, 8192]
    slope = power_law(lengths, [analytic_flops(L, 64) for L in lengths]).slope
    assert abs(slope - 1.5) <= 0.02
    assert abs(analytic_slope("superlinear", lengths) - 1.5) <= 0.02  # attnlab.metrics.scaling's formula
    # the formula by hand: L = 1024, b = 32, k = 2: 2·L·(32·64 + 2·3·32·64)
    assert analytic_flops(1024, 64) == 2 * 1024 * (32 * 64 + 6 * 32 * 64)
    assert span_length(8192, None) == 91 and span_length(100, 16) == 16


def test_the_work_per_query_matches_the_formula():
    """Counted in the masked emulation at b = √L: query i searches ⌊i/b⌋ <= L/b spans and attends to
    at most (k+1)·b keys, so the counted work follows analytic_flops' L·(L/b + (k+1)·b)."""
    T, k = 144, 2
    b = span_length(T, None)
    q, kk, v, u, kr, w = inputs(T, B=1, H=1)
    cand, _, _ = span_candidates(causal_mask(T, "cpu")[None, None], b)
    _, pattern, _ = masked_span_attention(q, kk, v, u, kr, w, b, k, causal_mask(T, "cpu")[None, None])
    searched = cand[0, 0].sum(-1)
    assert searched.tolist() == [i // b for i in range(T)]
    attended = (pattern[0, 0] > 0).sum(-1)
    assert attended.max() == (k + 1) * b
    per_query = (searched.float().mean() + attended.float().mean()).item()
    assert per_query <= T / b + (k + 1) * b
    assert math.isclose(analytic_flops(T, 1, top_k=k), 2 * T * (T / b + 2 * (k + 1) * b))
