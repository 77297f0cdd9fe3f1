"""The LM/attention changes of the VLM design (§2.2): inputs_embeds, a (B,1,T,T) structure mask,
token types in the attention context, and the pre-softmax score hook. Hand-made inputs."""

import torch

from attnlab import hooks
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM


def tiny(position_encoding="rope", **kw):
    torch.manual_seed(0)
    cfg = AttnLMConfig(vocab_size=20, n_embd=16, n_layer=2, n_head=2, n_positions=16,
                       position_encoding=position_encoding, rope_theta=500.0, **kw)
    return AttnLMForCausalLM(cfg).eval()


IDS = torch.tensor([[1, 5, 6, 7, 8, 9], [1, 9, 8, 7, 6, 5]])


def zeros(s, hook):
    """Equal logits: the pattern becomes uniform over the allowed (causal) keys."""
    return torch.zeros_like(s)


def test_inputs_embeds_is_bit_identical_to_input_ids():
    for pe in ("rope", "learned"):
        m = tiny(pe)
        with torch.no_grad():
            a = m(IDS).logits
            b = m(inputs_embeds=m.wte(IDS)).logits
            c = m(input_ids=IDS, inputs_embeds=m.wte(IDS)).logits
        assert torch.equal(a, b) and torch.equal(a, c)


def test_inputs_embeds_are_used_not_the_ids():
    m = tiny()
    emb = m.wte(IDS).detach().clone()
    emb[:, 2] = 0.0  # a token whose embedding is changed changes the logits from there on
    with torch.no_grad():
        a, b = m(IDS).logits, m(inputs_embeds=emb).logits
    assert torch.equal(a[:, :2], b[:, :2])
    assert not torch.allclose(a[:, 2:], b[:, 2:])


def test_structure_mask_4d_equals_3d_and_causal_equals_none():
    m = tiny()
    T = IDS.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    with torch.no_grad():
        none = m(IDS).logits
        three = m(IDS, structure_mask=causal[None].expand(2, T, T)).logits
        four = m(IDS, structure_mask=causal[None, None].expand(2, 1, T, T)).logits
    assert torch.equal(three, four)
    torch.testing.assert_close(none, three, rtol=1e-5, atol=1e-6)  # sdpa vs the explicit path


def test_structure_mask_lets_an_earlier_row_read_a_later_column():
    m = tiny()
    T = IDS.shape[1]
    s = torch.ones(T, T, dtype=torch.bool).tril()
    s[1, 4] = True  # position 1 may read position 4 (AKI-style extra column)
    _, cache = m.run_with_cache(IDS, names=["blocks.0.attn.hook_pattern"], structure_mask=s[None, None])
    p = cache["blocks.0.attn.hook_pattern"]
    assert (p[:, :, 1, 4] > 0).all() and (p[:, :, 1, 2:4] == 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones_like(p.sum(-1)))


def test_hook_scores_are_the_pre_softmax_logits():
    m = tiny()
    names = ["blocks.1.attn.hook_scores", "blocks.1.attn.hook_pattern"]
    _, cache = m.run_with_cache(IDS, names=names)
    scores, pattern = cache[names[0]], cache[names[1]]
    T = IDS.shape[1]
    assert scores.shape == (2, 2, T, T)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    expected = torch.softmax(scores.masked_fill(~causal, float("-inf")), -1)
    torch.testing.assert_close(pattern, expected)


def test_editing_scores_edits_the_pattern():
    m = tiny()
    T = IDS.shape[1]
    cache = {}
    with hooks.hooks(m, [("blocks.0.attn.hook_scores", zeros),
                         ("blocks.0.attn.hook_pattern", lambda p, h: cache.setdefault("p", p))]):
        m(IDS)
    expected = torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]
    torch.testing.assert_close(cache["p"], expected.expand(2, 2, T, T))


def test_token_type_reaches_every_layer_context():
    m = tiny()
    seen = []
    for b in m.blocks:
        orig = b.attn.prepare
        b.attn.prepare = lambda ctx, ids, orig=orig: (seen.append(ctx.token_type), orig(ctx, ids))[1]
    tt = torch.tensor([[0, 1, 1, 2, 2, 3]] * 2)
    with torch.no_grad():
        a = m(IDS).logits
        b = m(IDS, token_type=tt).logits
    assert torch.equal(a, b)  # information only: no effect on the plain softmax mechanism
    assert seen[:2] == [None, None] and all(torch.equal(t, tt) for t in seen[2:]) and len(seen) == 4
