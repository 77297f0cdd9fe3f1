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
