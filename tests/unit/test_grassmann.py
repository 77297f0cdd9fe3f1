"""The Grassmann flow layer (attnlab.attention.grassmann) on hand-made inputs."""

import math

import pytest
import torch

from attnlab.attention.base import AttentionContext
from attnlab.attention.grassmann import GrassmannMixing, plucker
from attnlab.attention.softmax import SoftmaxAttention
from attnlab.lm.configuration import AttnLMConfig
from attnlab.metrics.scaling import analytic_slope, attention_flops


def layer(rank=3, windows=(1,), d=4, seed=0):
    torch.manual_seed(seed)
    cfg = AttnLMConfig(vocab_size=8, n_embd=d, n_head=1, n_layer=1, attention="grassmann",
                       attention_options={"rank": rank, "windows": list(windows)})
    return GrassmannMixing(cfg, 0, rank=rank, windows=windows).eval()


def ctx(T, B=1):
    return AttentionContext(position_ids=torch.arange(T).expand(B, T))


def test_plucker_coordinates_of_a_plane_by_hand():
    i, j = torch.triu_indices(3, 3, offset=1)  # pairs (0,1), (0,2), (1,2)
    e1, e2, e3 = torch.eye(3)
    assert plucker(e1, e2, i, j).tolist() == [1.0, 0.0, 0.0]
    assert plucker(e2, e3, i, j).tolist() == [0.0, 0.0, 1.0]
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 4.0])
    # a x b for r = 3: p_01 = a0 b1 − a1 b0 = −2, p_02 = 4 − 1.5 = 2.5, p_12 = 8 + 3 = 11
    assert plucker(a, b, i, j).tolist() == [-2.0, 2.5, 11.0]
    torch.testing.assert_close(plucker(b, a, i, j), -plucker(a, b, i, j))  # antisymmetric
    assert torch.all(plucker(a, a, i, j) == 0)  # a line is not a plane
    # the coordinates describe the plane, not the basis: another basis scales them by its determinant
    torch.testing.assert_close(plucker(a, b + 3 * a, i, j), plucker(a, b, i, j))
    torch.testing.assert_close(plucker(2 * a, b, i, j), 2 * plucker(a, b, i, j))


def test_the_layer_by_hand_at_the_first_two_positions():
    m = layer(rank=3, windows=(1,), d=4)
    h = torch.randn(1, 2, 4)
    cache = {}
    m.hook_mix.add_hook(lambda t, hook: cache.__setitem__("g", t))
    m.hook_gate.add_hook(lambda t, hook: cache.__setitem__("a", t))
    with torch.no_grad():
        out, pattern = m(h, ctx(2))
        z = m.w_red(h)[0]
        i, j = torch.triu_indices(3, 3, offset=1)
        p = plucker(z[1], z[0], i, j)
        g1 = m.c_proj(p / p.norm())
    assert pattern is None
    assert torch.all(cache["g"][0, 0] == 0)  # position 0 has no pair: g = 0
    torch.testing.assert_close(cache["g"][0, 1], g1)
    alpha = torch.sigmoid(m.w_gate(torch.cat([h[0], cache["g"][0]], -1)))
    torch.testing.assert_close(cache["a"][0], alpha)
    torch.testing.assert_close(out[0], m.ln(alpha * h[0] + (1 - alpha) * cache["g"][0]))


def test_g_is_the_mean_over_the_valid_offsets():
    m = layer(rank=3, windows=(1, 2), d=4)
    h = torch.randn(1, 4, 4)
    with torch.no_grad():
        z = m.w_red(h)[0]
        g = m.mix(m.w_red(h), 4, ctx(4))[0]

        def g_of(t, s):
            p = plucker(z[t], z[s], *torch.triu_indices(3, 3, offset=1))
            return m.c_proj(p / p.norm())

    torch.testing.assert_close(g[1], g_of(1, 0))  # only δ = 1 fits
    torch.testing.assert_close(g[3], (g_of(3, 2) + g_of(3, 1)) / 2)


def test_each_output_reads_only_its_own_token_and_the_window_offsets_before_it():
    m = layer(rank=4, windows=(1, 4), d=8)
    h = torch.randn(1, 12, 8)
    with torch.no_grad():
        base = m(h, ctx(12))[0]
        h2 = h.clone()
        h2[0, 3] += 1.0
        changed = (m(h2, ctx(12))[0] - base).abs().amax(-1)[0] > 1e-6
    assert changed.nonzero().flatten().tolist() == [3, 4, 7]  # t = 3 itself, 3 + 1, 3 + 4


def test_segments_and_a_bidirectional_structure():
    m = layer(rank=4, windows=(1, 2), d=8)
    h = torch.randn(1, 6, 8)
    seg = torch.tensor([[0, 0, 0, 1, 1, 1]])
    with torch.no_grad():
        out = m(h, AttentionContext(position_ids=torch.arange(6)[None], segment_ids=seg))[0]
        alone = m(h[:, 3:], ctx(3))[0]  # the second document on its own
        torch.testing.assert_close(out[:, 3:], alone)
        both = m(h, AttentionContext(position_ids=torch.arange(6)[None],
                                     structure_mask=torch.ones(1, 6, 6, dtype=torch.bool)))[0]
        h2 = h.clone()
        h2[0, 5] += 1.0
        both2 = m(h2, AttentionContext(position_ids=torch.arange(6)[None],
                                       structure_mask=torch.ones(1, 6, 6, dtype=torch.bool)))[0]
    assert (both2 - both).abs().amax(-1)[0, 3] > 1e-6  # t = 3 reads t + 2 when the structure allows it


def test_parameters_match_softmax_attention_within_5_percent_at_the_spec_size():
    cfg = AttnLMConfig(vocab_size=8, n_embd=64, n_head=4, n_layer=1)
    attn = sum(p.numel() for p in SoftmaxAttention(cfg).parameters())
    g = sum(p.numel() for p in GrassmannMixing(cfg, rank=16).parameters())
    assert attn == 4 * 64 * 64 + 4 * 64  # 16.6k with biases
    assert g == (64 * 16 + 16) + (120 * 64 + 64) + (128 * 64 + 64) + 2 * 64
    assert abs(g / attn - 1) <= 0.05


def test_rejects_bad_options():
    with pytest.raises(ValueError, match="rank"):
        layer(rank=1)
    with pytest.raises(ValueError, match="windows"):
        layer(windows=(0,))


def test_the_analytic_cost_is_linear_in_length():
    L = [1024, 2048, 4096, 8192]
    assert analytic_slope("grassmann", L, d=64, rank=16) == pytest.approx(1.0, abs=1e-9)
    d, r, n_w = 64, 16, 6
    assert attention_flops("grassmann", 1000, d) == pytest.approx(  # the paper's r = 32, six offsets
        2 * 1000 * (d * 32 + n_w * (32 * 31 // 2) * (3 + d) + 2 * d * d))
    assert attention_flops("grassmann", 10, d, rank=r, windows=(1,)) == 2 * 10 * (d * r + 120 * (3 + d) + 2 * d * d)
    assert math.isclose(analytic_slope("softmax", L), 2.0)
