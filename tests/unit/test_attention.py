"""Every attention mechanism: causal, its pattern has the mechanism's shape, heads ablate by hook."""

import pytest
import torch

from attnlab.attention import MECHANISMS
from attnlab.attention.meta import MetaOnlyAttention
from attnlab.hooks import ablate_heads, hooks
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM

META = 6
OPTIONS = {
    "softmax": {},
    "sigmoid": {},
    "sliding_window": {"window": 4},
    "moh": {"shared_heads": 1, "active_heads": 3},
    "meta": {"meta_token_id": META, "zero_meta_positions": True},
    "dynamic_mask": {"window": 4},
    "pine": {"doc_token": 2, "query_token": 3},  # ids absent from tokens(): plain causal here
    "prefix_lm": {"marker": 3, "offset": 1},  # likewise (tests/unit/test_pine.py tests the structure)
    "performer": {"features": 8},
    "abc": {"slots": 4},
    "superlinear": {"span": 4, "top_k": 1},
    # eps: without positions (rope) repeated tokens give p = 0 exactly, whose gradient 1/eps swamps float32
    "grassmann": {"rank": 4, "windows": [1, 2, 4], "eps": 1e-3},
    "gaam": {"gaussians": 2},
    "rcmha": {"conv": True, "relative": True},
    "lightnet": {"chunk": 4},
    "decay": {"scans": 2},
}
HEADLESS = {"grassmann"}  # a mixer without heads, scores or pattern (tests/unit/test_grassmann.py)
UNNORMALISED = {"sigmoid", "lightnet", "decay"}  # pattern rows need not sum to one


def make(attention, position_encoding="rope", seed=0, **options):
    torch.manual_seed(seed)
    cfg = AttnLMConfig(vocab_size=40, n_positions=64, n_embd=32, n_layer=2, n_head=4, attention=attention,
                       attention_options={**OPTIONS[attention], **options},
                       position_encoding=position_encoding)
    model = AttnLMForCausalLM(cfg).eval()
    with torch.no_grad():  # DMA's A starts at 0 (z = 1 everywhere); give it content-dependence
        for b in model.blocks:
            if hasattr(b.attn, "A"):
                b.attn.A.normal_()
    return model


def tokens(B=2, T=16, seed=0):
    x = torch.randint(8, 40, (B, T), generator=torch.Generator().manual_seed(seed))
    x[:, [2, 7, 11]] = META
    return x


def test_every_mechanism_is_listed():
    assert set(OPTIONS) == set(MECHANISMS)


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_causal(attention):
    model, x = make(attention), tokens()
    y = x.clone()
    y[:, 10:] = torch.randint(8, 40, (2, 6))
    with torch.no_grad():
        a, b = model(x).logits, model(y).logits
    torch.testing.assert_close(a[:, :10], b[:, :10], rtol=0, atol=1e-5)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_pattern_and_z_hooks(attention):
    if attention in HEADLESS:
        pytest.skip("no heads and no pattern")
    model, x = make(attention), tokens()
    _, cache = model.run_with_cache(x)
    p, z = cache["blocks.1.attn.hook_pattern"], cache["blocks.1.attn.hook_z"]
    assert p.shape == (2, 4, 16, 16) and z.shape == (2, 16, 4, 8)
    assert torch.all(p.triu(1) == 0) and (attention == "lightnet" or torch.all(p >= 0))  # lightnet: silu(q)
    rows = p.sum(-1)
    if attention in UNNORMALISED:
        assert not torch.allclose(rows, torch.ones_like(rows))  # no normalisation
    else:
        torch.testing.assert_close(rows, torch.ones_like(rows))
    if attention in ("sliding_window", "dynamic_mask"):
        assert int((p > 0).sum(-1).max()) <= 4
    if attention == "sliding_window":
        i = torch.arange(16)
        assert torch.all(p[..., (i[:, None] - i[None, :]) >= 4] == 0)


def test_dynamic_mask_keeps_top_w_keys_by_value_score():
    model, x = make("dynamic_mask"), tokens(T=20)
    _, cache = model.run_with_cache(x, names=["blocks.0.attn.hook_pattern", "blocks.0.attn.hook_v"])
    attn, v = model.blocks[0].attn, cache["blocks.0.attn.hook_v"].transpose(1, 2)
    z = attn.key_scores(v)  # (B, H, T)
    kept = cache["blocks.0.attn.hook_pattern"][:, :, -1] > 0  # the last query sees every key causally
    expected = torch.zeros_like(kept).scatter_(-1, z.topk(4, -1).indices, True)
    assert torch.equal(kept, expected)


def test_dynamic_mask_with_wide_window_and_zero_A_is_softmax():
    dma, soft = make("dynamic_mask", window=64), make("softmax")
    state = {k: v for k, v in dma.state_dict().items() if k in soft.state_dict()}
    soft.load_state_dict(state)
    with torch.no_grad():
        for b in dma.blocks:
            b.attn.A.zero_()  # z = 1 for every key: a constant bias, which softmax ignores
        torch.testing.assert_close(dma(tokens()).logits, soft(tokens()).logits, rtol=0, atol=1e-5)


def test_moh_gates_route_top_k_and_keep_shared_heads():
    model, x = make("moh"), tokens()
    _, cache = model.run_with_cache(x, names=lambda n: n.endswith("hook_gate"))
    g = cache["blocks.0.attn.hook_gate"]  # (B, T, H): 1 shared + top-2 of 3 routed
    assert g.shape == (2, 16, 4)
    assert torch.all(g[..., 0] > 0)
    assert torch.all((g > 0).sum(-1) == 3)
    out = model(x, labels=x)
    assert out.aux_loss is not None and out.aux_loss > 0
    torch.testing.assert_close(out.loss, out.lm_loss + out.aux_loss)


def test_meta_attention_only_between_meta_tokens():
    model, x = make("meta"), tokens()
    _, cache = model.run_with_cache(x, names=lambda n: ".meta.hook_pattern" in n)
    p = cache["blocks.0.attn.meta.hook_pattern"]
    is_meta = x == META
    allowed = is_meta[:, None, :, None] & is_meta[:, None, None, :]
    assert torch.all(p[~allowed.expand_as(p)] == 0)
    torch.testing.assert_close(p.sum(-1)[is_meta[:, None, :].expand(-1, 4, -1)], torch.ones(2 * 4 * 3))


def test_meta_zero_positions_changes_the_function():
    a, b = make("meta", zero_meta_positions=False), make("meta", zero_meta_positions=True)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert not torch.allclose(a(tokens()).logits, b(tokens()).logits)


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_head_ablation_by_hook_equals_zeroing_output_weights(attention):
    if attention in HEADLESS:
        pytest.skip("no heads")
    model, x = make(attention), tokens()
    with torch.no_grad(), model.ablate_heads({1: [2]}):
        hooked = model(x).logits
    with torch.no_grad():
        by_name = model.run_with_hooks(x, fwd_hooks=[("blocks.1.attn.hook_z", ablate_heads([2]))]).logits
    torch.testing.assert_close(by_name, hooked, rtol=0, atol=0)
    edited = make(attention)
    with torch.no_grad():
        edited.blocks[1].attn.c_proj.weight[:, 16:24] = 0  # head 2's columns (d_head = 8)
        direct = edited(x).logits
    torch.testing.assert_close(hooked, direct, rtol=0, atol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(hooked, model(x).logits)


def test_unknown_mechanism_and_options_are_rejected():
    with pytest.raises(ValueError, match="unknown attention"):
        AttnLMForCausalLM(AttnLMConfig(attention="nope"))
    with pytest.raises(TypeError):
        AttnLMForCausalLM(AttnLMConfig(attention="softmax", attention_options={"window": 3}))


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_scores_are_scaled_dot_products(attention):
    if attention in HEADLESS:
        pytest.skip("no scores")
    attn = make(attention).blocks[0].attn
    q, k = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8)
    expected = torch.einsum("bhid,bhjd->bhij", q, k) / 8 ** 0.5  # d_head = 32 / 4
    torch.testing.assert_close(attn.scores(q, k), expected)
    assert attn.scores(q, k)[1, 2, 3, 4] == pytest.approx(float(q[1, 2, 3] @ k[1, 2, 4]) / 8 ** 0.5, rel=1e-5)


def test_scores_is_the_one_place_mechanisms_compute_q_dot_k():
    # doubling every score doubles the pattern's logits: each mechanism's pattern changes through it
    for attention in ("sigmoid", "sliding_window", "dynamic_mask", "meta", "softmax"):
        model, x = make(attention), tokens()
        _, plain = model.run_with_cache(x, names=lambda n: n.endswith("hook_pattern"))
        for b in model.blocks:
            for m in b.attn.modules():
                if hasattr(m, "scores"):
                    m.scores = (lambda f: lambda q, k: 2 * f(q, k))(m.scores)
        _, doubled = model.run_with_cache(x, names=lambda n: n.endswith("hook_pattern"))
        for name in plain:
            assert not torch.allclose(plain[name], doubled[name]), (attention, name)


def test_aux_loss_is_a_method_and_the_model_sums_it():
    moh, x = make("moh"), tokens()
    out = moh(x, labels=x)
    per_layer = [b.attn.aux_loss() for b in moh.blocks]
    assert all(a is not None and a.ndim == 0 for a in per_layer)
    torch.testing.assert_close(out.aux_loss, per_layer[0] + per_layer[1])
    # eq. 8 by hand for layer 0: β Σ_i P_i f_i over the routed heads (top-2 of 3)
    _, cache = moh.run_with_cache(x, names=["blocks.0.hook_resid_pre"])
    attn = moh.blocks[0].attn
    with torch.no_grad():
        p = torch.softmax(attn.w_routed(moh.blocks[0].ln_1(cache["blocks.0.hook_resid_pre"])), -1).flatten(0, 1)
        top = p.topk(2, -1).indices
        f = torch.zeros_like(p).scatter_(-1, top, 1.0).mean(0)
        torch.testing.assert_close(attn.aux_loss(), 0.01 * (p.mean(0) * f).sum())
    soft = make("softmax")
    assert all(b.attn.aux_loss() is None for b in soft.blocks)
    out = soft(x, labels=x)
    assert out.aux_loss is None and torch.equal(out.loss, out.lm_loss)


def test_prepare_finds_meta_tokens_by_the_mechanisms_own_id():
    from attnlab.attention.base import AttentionContext

    model, x = make("meta"), tokens()
    attn = model.blocks[0].attn
    pos = torch.arange(16).expand(2, 16)
    ctx = attn.prepare(AttentionContext(position_ids=pos, rope_theta=10000.0), x)
    expected = torch.zeros(2, 16, dtype=torch.bool)
    expected[:, [2, 7, 11]] = True
    assert torch.equal(ctx.meta_positions, expected)
    assert torch.equal(ctx.position_ids, pos.masked_fill(expected, 0))  # zero_meta_positions=True
    assert ctx.rope_theta == 10000.0
    plain = make("meta", zero_meta_positions=False).blocks[0].attn.prepare(AttentionContext(position_ids=pos), x)
    assert torch.equal(plain.position_ids, pos)
    # another id: the same tokens are ordinary, so no query attends in the meta part
    other = make("meta", meta_token_id=5)
    _, cache = other.run_with_cache(x, names=["blocks.0.attn.meta.hook_pattern"])
    assert torch.all(cache["blocks.0.attn.meta.hook_pattern"] == 0)
    # mechanisms without special tokens see the context unchanged
    soft_ctx = AttentionContext(position_ids=pos)
    assert make("softmax").blocks[0].attn.prepare(soft_ctx, x) is soft_ctx


def test_meta_attention_needs_its_token_id_and_old_configs_still_load():
    with pytest.raises(TypeError, match="meta_token_id"):
        AttnLMForCausalLM(AttnLMConfig(attention="meta", attention_options={"zero_meta_positions": True}))
    # run directories saved before the move carry meta_token_id at the top of config.json
    legacy = AttnLMConfig(attention="meta", attention_options={"zero_meta_positions": True}, meta_token_id=META)
    assert legacy.attention_options == {"zero_meta_positions": True, "meta_token_id": META}
    assert AttnLMConfig(attention="softmax", meta_token_id=None).attention_options == {}
    assert "meta_token_id" not in AttnLMConfig(attention="softmax", meta_token_id=None).to_dict()


def test_masked_softmax_zeroes_rows_without_keys_and_keeps_gradients_finite():
    from attnlab.attention.base import masked_softmax

    scores = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]], requires_grad=True)
    allowed = torch.tensor([[True, False, True], [False, False, False]])
    p = masked_softmax(scores, allowed)
    e = torch.exp(torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(p[0], torch.stack([e[0], torch.tensor(0.0), e[1]]) / e.sum())
    assert torch.equal(p[1], torch.zeros(3))
    (p * torch.arange(3.0)).sum().backward()
    assert torch.isfinite(scores.grad).all() and torch.equal(scores.grad[1], torch.zeros(3))


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_a_stack_of_models_under_vmap_equals_each_model_alone(attention):
    """No mechanism branches on tensor values, so torch.func.vmap over stacked weights works."""
    from torch.func import functional_call, stack_module_state, vmap

    models, x = [make(attention, seed=s).train() for s in (0, 1)], torch.stack([tokens(seed=0), tokens(seed=1)])
    params, buffers = stack_module_state(models)

    def loss(p, b, ids):
        return functional_call(models[0], (p, b), (ids,), {"labels": ids}).loss

    stacked = vmap(loss)(params, buffers, x)
    stacked.sum().backward()
    for i, model in enumerate(models):
        alone = model(x[i], labels=x[i]).loss
        alone.backward()
        torch.testing.assert_close(stacked[i], alone)
        for name, p in model.named_parameters():
            torch.testing.assert_close(params[name].grad[i], p.grad, msg=name)


@pytest.mark.parametrize("zero_meta_positions", [False, True])
@pytest.mark.parametrize("without_meta", [(), (2,), (0, 1, 2)])
def test_meta_attention_fused_path_equals_the_explicit_one(zero_meta_positions, without_meta, monkeypatch):
    """Training runs the meta part on the meta-tokens alone (gathered, padded to the batch's most,
    every other position's output the projection's bias); asking for the pattern runs the explicit
    masked softmax over every position. Same logits and gradients, left padding included (a padded
    row and key are excluded in both), with rows (or a whole batch) without meta-tokens."""
    x = tokens(B=3, T=16)
    x[list(without_meta)] = torch.where(x[list(without_meta)] == META, META + 1, x[list(without_meta)])
    mask = torch.ones_like(x)
    mask[0, :3] = 0  # left padding, a meta-token among the padded positions
    calls = []
    gathered = MetaOnlyAttention.forward_gathered
    monkeypatch.setattr(MetaOnlyAttention, "forward_gathered", lambda self, *a: calls.append(1) or gathered(self, *a))
    runs = []
    for explicit in (False, True):
        model = make("meta", zero_meta_positions=zero_meta_positions).train()
        out = model(x, attention_mask=mask, labels=x, output_attentions=explicit)
        out.loss.backward()
        runs.append((out.logits, {n: p.grad for n, p in model.named_parameters()}))
    assert len(calls) == 2  # both layers of the first run, none of the explicit one
    (fused, g_fused), (explicit, g_explicit) = runs
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    assert g_fused.keys() == g_explicit.keys()
    for name in g_fused:
        torch.testing.assert_close(g_fused[name], g_explicit[name], rtol=1e-4, atol=1e-6, msg=name)
    assert (g_fused["blocks.0.attn.meta.c_attn.weight"].abs().sum() > 0) == (len(without_meta) < 3)  # trained


LOGIT_MECHANISMS = {"softmax", "sigmoid", "sliding_window", "dynamic_mask", "rcmha", "moh", "meta", "pine", "prefix_lm"}


@pytest.mark.parametrize("attention", sorted(LOGIT_MECHANISMS))
def test_a_hook_on_the_scores_fires_and_edits_the_pattern(attention):
    """Every mechanism whose pattern is a function of q·k logits routes them through hook_scores, on
    the fused path too: a hook there alone fires (sliding_window's fused path skipped it, and sigmoid,
    dynamic_mask and rcmha never called it), and adding a large logit to key 0 moves the pattern there."""
    model, x = make(attention), tokens()
    name = "blocks.0.attn.hook_scores"
    _, cache = model.run_with_cache(x, names=[name])
    assert cache[name].shape == (2, 4, 16, 16)
    _, plain = model.run_with_cache(x, names=["blocks.0.attn.hook_pattern"])

    def boost_first_key(scores, hook):
        return scores + 30.0 * (torch.arange(scores.shape[-1]) == 0)

    seen = {}
    with hooks(model, [(name, boost_first_key),
                       ("blocks.0.attn.hook_pattern", lambda p, h: seen.setdefault("p", p))]):
        model(x)
    first = seen["p"][..., 0] - plain["blocks.0.attn.hook_pattern"][..., 0]
    assert (first >= -1e-6).all() and first.sum() > 1.0


def test_mechanisms_without_logits_are_the_rest():
    assert LOGIT_MECHANISMS <= set(MECHANISMS)
    assert set(MECHANISMS) - LOGIT_MECHANISMS == {"abc", "decay", "gaam", "grassmann", "lightnet", "performer",
                                                  "superlinear"}


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_a_training_step_under_bf16_autocast_runs_and_matches_fp32(attention):
    """`precision: bf16` (and "auto" on CUDA) trains under bf16 autocast: every mechanism's forward and
    backward must run there (mixed dtypes must not meet in one op) and give the fp32 loss to bf16's
    precision, with finite gradients."""
    model, x = make(attention).train(), tokens()
    fp32 = model(x, labels=x).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x, labels=x).loss
    loss.backward()
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, fp32, rtol=0.03, atol=0.0)
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
