"""Given the same weights, our standard-attention LM computes GPT2LMHeadModel's logits."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from attnlab.lm.convert import config_from_gpt2, state_dict_from_gpt2
from attnlab.lm.modeling import AttnLMForCausalLM


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=97, n_positions=64, n_embd=48, n_layer=3, n_head=4, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    ref = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias values, so a mis-mapped weight shows
        for name, p in ref.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    ours = AttnLMForCausalLM(config_from_gpt2(cfg)).eval()
    missing, unexpected = ours.load_state_dict(state_dict_from_gpt2(ref.state_dict()), strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected
    ours.tie_weights()
    return ref, ours


@pytest.mark.parametrize("attn_impl", ["eager", "sdpa"])
def test_logits_match_gpt2(pair, attn_impl):
    ref, ours = pair
    ref.set_attn_implementation(attn_impl)
    x = torch.randint(0, 97, (3, 50), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ref(x, labels=x), ours(x, labels=x)
    torch.testing.assert_close(b.logits, a.logits, rtol=0, atol=2e-5)
    torch.testing.assert_close(b.loss, a.loss, rtol=0, atol=2e-6)


def test_explicit_pattern_path_matches_fused(pair):
    """Hooking the pattern switches from the sdpa kernel to the explicit softmax; same logits."""
    _, ours = pair
    x = torch.randint(0, 97, (2, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        fused = ours(x).logits
        explicit, cache = ours.run_with_cache(x, names=lambda n: n.endswith("hook_pattern"))
    assert len(cache) == 3
    torch.testing.assert_close(explicit.logits, fused, rtol=0, atol=2e-5)


def test_attentions_match_gpt2_eager(pair):
    ref, ours = pair
    ref.set_attn_implementation("eager")
    x = torch.randint(0, 97, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = ref(x, output_attentions=True).attentions
        b = ours(x, output_attentions=True).attentions
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pb, pa, rtol=0, atol=1e-6)
