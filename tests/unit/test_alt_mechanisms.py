"""alt_attention's mechanisms on hand-made inputs: LightNet's additive decay and the multiplicative
decay (recurrent = parallel = chunked forms), GAAM's Gaussian weights, RCMHA's convolution and
relative scores; each one's analytic cost exponent."""

import math

import pytest
import torch

from attnlab.attention.base import AttentionContext
from attnlab.attention.decay import DecayAttention, scan_orders
from attnlab.attention.gaam import GAAMAttention, gaussian_pool, gaussian_weights
from attnlab.attention.lightnet import LightNetAttention, lightnet_weights
from attnlab.attention.rcmha import RelConvAttention, sinusoid_table
from attnlab.attention.scan import causal_weights, chunked, recurrent
from attnlab.attention.softmax import SoftmaxAttention
from attnlab.lm.configuration import AttnLMConfig
from attnlab.metrics.scaling import analytic_slope

L = [1024, 2048, 4096, 8192]


def cfg(d=16, heads=2):
    return AttnLMConfig(vocab_size=8, n_embd=d, n_head=heads, n_layer=1)


def ctx(T, **kw):
    return AttentionContext(position_ids=torch.arange(T)[None], **kw)


def qkv(B=2, H=3, T=21, F=5, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, T, F, generator=g), torch.randn(B, H, T, F, generator=g), torch.randn(B, H, T, D, generator=g)


# --- the scan -----------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 4, 7, 64])
def test_lightnet_recurrence_equals_its_parallel_and_chunked_forms(chunk):
    q, k, v = qkv()
    z = torch.logcumsumexp(k, 2)
    rec = recurrent(q, torch.exp(k - z), v, -z)
    torch.testing.assert_close(causal_weights(q, torch.exp(k - z), -z) @ v, rec, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked(q, torch.exp(k - z), v, -z, chunk), rec, atol=1e-5, rtol=1e-5)
    # and the explicit LightNet weights under the causal mask: the prefix softmax of every key feature
    causal = torch.ones(21, 21, dtype=torch.bool).tril()[None, None]
    torch.testing.assert_close(lightnet_weights(q, k, causal) @ v, rec, atol=1e-5, rtol=1e-5)


def test_lightnet_state_is_the_prefix_softmax_of_the_keys_and_order_free_at_the_end():
    q, k, v = qkv(B=1, H=1, T=6, F=1, D=1)
    full = torch.ones(1, 1, 6, 6, dtype=torch.bool)
    w = lightnet_weights(torch.ones_like(q), k, full)[0, 0]  # q = 1: the state itself
    torch.testing.assert_close(w, torch.softmax(k[0, 0, :, 0], 0).expand(6, 6))  # every query reads S_T
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    a = lightnet_weights(q, k, full) @ v
    b = lightnet_weights(q, k[:, :, perm], full) @ v[:, :, perm]  # permute keys and values
    torch.testing.assert_close(a, b)  # the end state does not depend on the scan order


def test_decay_of_zero_keeps_only_the_token_itself_and_one_is_plain_linear_attention():
    q, k, v = qkv(T=9)
    ones = torch.ones(9, 9, dtype=torch.bool).tril()
    t = torch.arange(9.0)[None, None, :, None]
    zero = causal_weights(q, k.exp(), t * -1e4)  # log λ = −10^4: λ = 0
    torch.testing.assert_close(zero, torch.diag_embed((q * k.exp()).sum(-1)))
    one = causal_weights(q, k.exp(), 0 * t)  # λ = 1: no decay
    torch.testing.assert_close(one, (q @ k.exp().transpose(-1, -2)) * ones)


def test_decay_layer_chunked_equals_its_explicit_weights_and_lambda_is_learned_per_head():
    layer = DecayAttention(cfg(), chunk=3)
    assert torch.sigmoid(layer.decay_logit).tolist() == pytest.approx([0.9, 0.9])
    q, k, v = qkv(H=2, T=10, F=8, D=8)
    fast, none = layer.attend(q, k, v, ctx(10))
    assert none is None
    layer.hook_pattern.add_hook(lambda x, h: None)  # a listener: the explicit weights
    slow, pattern = layer.attend(q, k, v, ctx(10))
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    lam = 0.9
    phi = torch.nn.functional.elu
    expected = (phi(q[0, 1, 7]) + 1) @ (phi(k[0, 1, 4]) + 1) * lam**3
    assert float(pattern[0, 1, 7, 4]) == pytest.approx(float(expected), rel=1e-5)


def test_scan_orders_on_a_two_by_three_grid():
    one, back, col, col_back = scan_orders(6, 4, 3, "cpu")
    assert one.tolist() == [0, 1, 2, 3, 4, 5] and back.tolist() == [5, 4, 3, 2, 1, 0]
    # cells (row, col) in raster order: (0,0) (0,1) (0,2) (1,0) (1,1) (1,2); column-major visits
    # (0,0) (1,0) (0,1) (1,1) (0,2) (1,2)
    assert col.tolist() == [0, 2, 4, 1, 3, 5] and col_back.tolist() == [5, 3, 1, 4, 2, 0]
    with pytest.raises(ValueError, match="grid_width"):
        scan_orders(6, 4, 4, "cpu")


def test_one_decay_scan_reaches_back_only_and_four_scans_reach_the_cell_below():
    full = torch.ones(1, 1, 6, 6, dtype=torch.bool)
    q, k, v = qkv(B=1, H=2, T=6, F=8, D=8)
    w1 = DecayAttention(cfg(), scans=1).weights(q, k, full)
    w4 = DecayAttention(cfg(), scans=4, grid_width=3).weights(q, k, full)
    assert torch.all(w1[0, :, 0, 1:] == 0)  # one raster scan: the first cell sees only itself
    assert torch.all(w4 > 0)  # four scans: every cell reaches every other
    lam = 0.9
    # the cell below (0,0) is (1,0), raster position 3: raster distance 3, column-major distance 1;
    # it is visited later in the forward scans and earlier in the backward ones
    base = (torch.nn.functional.elu(q) + 1) @ (torch.nn.functional.elu(k) + 1).transpose(-1, -2)
    torch.testing.assert_close(w4[0, :, 0, 3], base[0, :, 0, 3] * (lam**3 + lam**1), rtol=1e-5, atol=1e-6)


# --- GAAM ---------------------------------------------------------------------------------------

def test_gaussian_weights_by_hand_and_pooling():
    x = torch.tensor([0.0, 1.0, 2.0, 5.0]).view(1, 1, 4, 1)
    allowed = torch.ones(1, 1, 1, 4, dtype=torch.bool)
    w = gaussian_weights(x, allowed, torch.zeros(1, 1), torch.ones(1, 1))[0, 0, 0, :, 0]
    mu, var = 2.0, (4 + 1 + 0 + 9) / 4
    expected = torch.exp(-((x.flatten() - mu) ** 2) / (2 * var))
    torch.testing.assert_close(w, expected / expected.sum())
    # two Gaussians, offsets ±1: the product of their densities, normalised
    w2 = gaussian_weights(x, allowed, torch.tensor([[1.0, -1.0]]), torch.tensor([[1.0, 2.0]]))[0, 0, 0, :, 0]
    y1, y2 = (x.flatten() - 3) / var**0.5, (x.flatten() - 1) / var**0.5
    e2 = torch.exp(-(y1**2) / 2 - y2**2 / 8)
    torch.testing.assert_close(w2, e2 / e2.sum())
    # very wide Gaussians weight every step alike: the pool is the mean over time
    feats = torch.randn(3, 7, 4)
    wide = gaussian_pool(feats, 2, torch.zeros(2, 1), torch.full((2, 1), 1e4))
    torch.testing.assert_close(wide, feats.mean(1), atol=1e-5, rtol=1e-5)


def test_gaam_attention_under_a_bidirectional_structure_gives_every_query_the_pool_of_its_values():
    layer = GAAMAttention(cfg(d=8, heads=2))
    with torch.no_grad():
        layer.gauss.offsets.normal_()
        _, _, v = qkv(B=2, H=2, T=5, F=4, D=4)
        z, pattern = layer.attend(v, v, v, ctx(5, structure_mask=torch.ones(1, 5, 5, dtype=torch.bool)))
        pooled = gaussian_pool(v.transpose(1, 2).reshape(2, 5, 8), 2, layer.gauss.offsets, layer.gauss.c)
    torch.testing.assert_close(z[:, :, 2].reshape(2, 8), pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(2, 2, 5))
    z_causal, _ = layer.attend(v, v, v, ctx(5))
    torch.testing.assert_close(z_causal[:, :, 0], v[:, :, 0])  # a query that sees one key returns it


# --- RCMHA --------------------------------------------------------------------------------------

def test_the_convolution_starts_as_the_identity_so_mdha_starts_as_mha():
    torch.manual_seed(0)
    mdha, mha = RelConvAttention(cfg(), conv=True, relative=False), SoftmaxAttention(cfg())
    mha.load_state_dict({k: v for k, v in mdha.state_dict().items() if k != "taps"})
    mdha.init_extra_parameters(torch.nn.init)
    x = torch.randn(2, 7, 16)
    torch.testing.assert_close(mdha(x, ctx(7))[0], mha(x, ctx(7))[0])
    with torch.no_grad():  # taps (0, 1, 0): every channel reads the previous token (0 at t = 0)
        mdha.taps.zero_()
        mdha.taps[1] = 1.0
        qkv_ = mdha.c_attn(x)
        out = mdha.depthwise(qkv_, ctx(7))
    torch.testing.assert_close(out[:, 1:], qkv_[:, :-1])
    assert torch.all(out[:, 0] == 0)


def test_relative_scores_by_hand():
    layer = RelConvAttention(cfg(d=8, heads=2), conv=False, relative=True)
    with torch.no_grad():
        layer.u.normal_()
        layer.r_bias.normal_()
    q, k = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    s = layer.relative_scores(q, k)
    i, j = 4, 1
    R = sinusoid_table(torch.tensor([i - j]), 4)[0]
    h = 1
    expected = (q[0, h, i] @ k[0, h, j] + q[0, h, i] @ R + layer.u[h] @ k[0, h, j] + layer.r_bias[h] @ R) / 2
    assert float(s[0, h, i, j]) == pytest.approx(float(expected), rel=1e-5)
    R_neg = sinusoid_table(torch.tensor([-2]), 4)[0]  # j after i: a signed distance
    expected = (q[0, 0, 1] @ k[0, 0, 3] + q[0, 0, 1] @ R_neg + layer.u[0] @ k[0, 0, 3] + layer.r_bias[0] @ R_neg) / 2
    assert float(s[0, 0, 1, 3]) == pytest.approx(float(expected), rel=1e-5)


# --- analytic cost exponents --------------------------------------------------------------------

def test_analytic_exponents():
    for m in ("lightnet", "decay"):
        assert analytic_slope(m, L, d=64) == pytest.approx(1.0, abs=1e-9)
    for m in ("gaam", "rcmha"):
        assert analytic_slope(m, L, d=64) == pytest.approx(2.0, abs=0.01)
    assert math.isclose(analytic_slope("gaam", L), 2.0)


def test_lightnet_layer_scan_equals_its_explicit_weights():
    layer = LightNetAttention(cfg(), chunk=4)
    q, k, v = qkv(H=2, T=11, F=8, D=8)
    fast, none = layer.attend(q, k, v, ctx(11))
    layer.hook_pattern.add_hook(lambda x, h: None)
    slow, pattern = layer.attend(q, k, v, ctx(11))
    assert none is None and pattern.shape == (2, 2, 11, 11)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
