"""The LM family: Auto-class registration, save/load, generate, the hook API, the loss."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=30, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    return AttnLMForCausalLM(AttnLMConfig(**{**cfg, **kw})).eval()


@pytest.mark.parametrize("attention,options", [("softmax", {}), ("moh", {"shared_heads": 1, "active_heads": 1}),
                                               ("dynamic_mask", {"window": 3})])
def test_run_dir_loads_with_auto_classes_and_generates(tmp_path, attention, options):
    model = tiny(attention=attention, attention_options=options, position_encoding="rope")
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).attention == attention
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is AttnLMForCausalLM
    x = torch.tensor([[1, 9, 10, 11]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=0, atol=0)
    out = loaded.generate(x, max_new_tokens=6, do_sample=False, eos_token_id=None)
    assert out.shape == (1, 10) and torch.equal(out[:, :4], x)
    with torch.no_grad():  # greedy generation = repeated argmax of the full-prefix logits
        for t in range(4, 10):
            assert out[0, t] == loaded(out[:, :t]).logits[0, -1].argmax()


def test_tied_embeddings_survive_reload(tmp_path):
    model = tiny()
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.lm_head.weight.data_ptr() == loaded.wte.weight.data_ptr()


def test_hook_names_and_cache_selection():
    model = tiny()
    names = set(model.hook_points())
    for i in range(2):
        assert {f"blocks.{i}.attn.hook_pattern", f"blocks.{i}.attn.hook_z", f"blocks.{i}.hook_resid_post"} <= names
    x = torch.tensor([[1, 9, 10, 11, 12]])
    _, cache = model.run_with_cache(x, names=["blocks.1.attn.hook_z"])
    assert list(cache) == ["blocks.1.attn.hook_z"] and cache["blocks.1.attn.hook_z"].shape == (1, 5, 2, 8)
    with pytest.raises(KeyError, match="unknown hook point"):
        model.run_with_cache(x, names=["blocks.9.attn.hook_z"])
    assert not any(p.active for p in model.hook_points().values())  # hooks are removed afterwards


def test_run_with_hooks_patches_activations():
    model = tiny()
    x = torch.tensor([[1, 9, 10, 11, 12]])
    zero_resid = ("blocks.1.hook_resid_post", lambda act, hook: torch.zeros_like(act))
    with torch.no_grad():
        out = model.run_with_hooks(x, fwd_hooks=[zero_resid]).logits
    # ln_f of a zero vector is its bias (0 at init), so every position gets the same logits
    torch.testing.assert_close(out, out[:, :1].expand_as(out))


def test_loss_ignores_unlabelled_positions_and_left_padding_matches():
    model = tiny()
    x = torch.tensor([[1, 9, 10, 11, 12, 13]])
    labels = torch.full_like(x, -100)
    labels[0, 4] = 12
    with torch.no_grad():
        out = model(x, labels=labels)
        expected = torch.nn.functional.cross_entropy(out.logits[0, 3:4], torch.tensor([12]))
        torch.testing.assert_close(out.loss, expected)
        padded = torch.tensor([[0, 0, 1, 9, 10, 11, 12, 13]])
        mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1]])
        torch.testing.assert_close(model(padded, attention_mask=mask).logits[:, 2:], out.logits, rtol=0, atol=1e-5)


def test_learned_positions_refuse_longer_inputs():
    with pytest.raises(ValueError, match="n_positions"):
        tiny()(torch.ones(1, 40, dtype=torch.long))


@pytest.mark.parametrize("attention", ["softmax", "decay"])
def test_gpt2_init_scales_every_residual_projection(attention):
    """GPT-2's init: residual projections N(0, 0.02/sqrt(2 n_layer)) = 0.01 at n_layer 2, the rest
    0.02, whatever the mechanism. The default (gpt2_init False) keeps the init every run so far had:
    softmax's projections unscaled (transformers 5's custom-code shortcut)."""
    def stds(gpt2_init):
        torch.manual_seed(0)
        m = AttnLMForCausalLM(AttnLMConfig(vocab_size=64, n_embd=128, n_layer=2, n_head=4, attention=attention,
                                           position_encoding="rope", gpt2_init=gpt2_init))
        return {n: float(p.detach().std()) for n, p in m.named_parameters() if n.endswith("weight") and p.dim() == 2}

    new = stds(True)
    for name, std in new.items():
        expected = 0.01 if name.endswith("c_proj.weight") else 0.02
        assert abs(std - expected) < 0.1 * expected, (name, std)
    if attention == "softmax":
        old = stds(False)
        assert abs(old["blocks.0.mlp.c_proj.weight"] - 0.02) < 0.002
        assert abs(old["blocks.0.attn.c_proj.weight"] - 0.02) < 0.002


def test_gpt2_init_model_reloads_its_weights(tmp_path):
    model = tiny(gpt2_init=True, position_encoding="rope")
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.config.gpt2_init is True
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), n


def block_lengths(model, blocks):
    """A list that records the sequence length each call of blocks[0] sees."""
    seen = []
    blocks[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[1]))
    return seen


@pytest.mark.parametrize("position_encoding", ["rope", "learned"])
def test_kv_cache_steps_equal_the_full_forward(position_encoding):
    """Prompt once, then one token at a time through the cache: the same logits as running the
    whole left-padded sequence (to float rounding), the padding masked, positions counted as without."""
    from transformers import DynamicCache

    model = tiny(position_encoding=position_encoding)
    seq = torch.tensor([[0, 0, 1, 9, 10, 11, 12, 13], [1, 5, 6, 7, 8, 9, 10, 11]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1] * 8])
    with torch.no_grad():
        full = model(seq, attention_mask=mask).logits
        cache = DynamicCache(config=model.config)
        out = model(seq[:, :5], attention_mask=mask[:, :5], cache=cache)
        steps = [out.logits]
        for t in range(5, 8):
            out = model(seq[:, t:t + 1], attention_mask=mask[:, :t + 1], cache=out.cache)
            steps.append(out.logits)
    assert out.cache is cache and cache.get_seq_length() == 8
    torch.testing.assert_close(torch.cat(steps, 1)[mask.bool()], full[mask.bool()], rtol=1e-5, atol=1e-5)


def test_generate_takes_the_cache_where_the_mechanism_does_and_recomputes_where_not():
    x = torch.tensor([[1, 9, 10, 11]])
    kw = {"max_new_tokens": 5, "do_sample": False, "eos_token_id": None}
    cached = tiny(position_encoding="rope")
    seen = block_lengths(cached, cached.blocks)
    out = cached.generate(x, **kw)
    assert seen == [4, 1, 1, 1, 1]  # the prompt, then one token a step
    assert torch.equal(out, cached.generate(x, use_cache=False, **kw))
    moh = tiny(position_encoding="rope", attention="moh", attention_options={"shared_heads": 1, "active_heads": 1})
    assert not moh.supports_kv_cache()
    seen = block_lengths(moh, moh.blocks)
    moh.generate(x, **kw)
    assert seen == [4, 5, 6, 7, 8]  # no cache: the whole prefix every step
    with pytest.raises(ValueError, match="'moh' does not take a KV cache"):
        moh(x, use_cache=True)
