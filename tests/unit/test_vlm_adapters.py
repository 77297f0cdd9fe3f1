"""attnlab.vlm.adapters: our VLM and a tiny stock LLaVA (LlamaConfig + SiglipVisionConfig, built
here, no download) answer to the same hook names (vlm_design §7)."""

import pytest
import torch
from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, SiglipVisionConfig

from attnlab import AttnlabError
from attnlab.lm.configuration import AttnLMConfig
from attnlab.vlm.adapters import load_vlm
from attnlab.vlm.configuration import AttnViTConfig, AttnVLMConfig
from attnlab.vlm.modeling import AttnVLMForConditionalGeneration

LLAVA_IMG = 39
OURS_IMG = 4


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    torch.manual_seed(0)
    vc = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                            image_size=8, patch_size=2)
    tc = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                     num_key_value_heads=1, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_id=LLAVA_IMG, image_seq_length=16,
                      vision_feature_select_strategy="full", vision_feature_layer=-1)
    path = tmp_path_factory.mktemp("tiny_llava")
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def ours_dir(tmp_path_factory):
    torch.manual_seed(0)
    vc = AttnViTConfig(image_size=8, patch_size=2, n_embd=16, n_layer=2, n_head=2)
    tc = AttnLMConfig(vocab_size=24, n_embd=16, n_layer=2, n_head=2, position_encoding="rope", rope_theta=500.0)
    path = tmp_path_factory.mktemp("ours")
    AttnVLMForConditionalGeneration(AttnVLMConfig(vision_config=vc, text_config=tc, image_token_id=OURS_IMG,
                                                  image_seq_length=16)).save_pretrained(path)
    return path


def inputs(img_id):
    torch.manual_seed(1)
    return {"input_ids": torch.tensor([[1] + [img_id] * 16 + [5, 6, 7]] * 2), "pixel_values": torch.randn(2, 3, 8, 8)}


NAMES = [f"{tower}.blocks.{l}.{h}" for tower in ("vision_tower", "language_model") for l in (0, 1)
         for h in ("attn.hook_scores", "attn.hook_pattern", "attn.hook_z", "hook_resid_pre", "hook_attn_out",
                   "hook_mlp_out", "hook_resid_post")] + ["multi_modal_projector.hook_out"]


@pytest.mark.parametrize("which", ["llava", "ours"])
def test_same_names_and_shapes(which, llava_dir, ours_dir):
    vlm = load_vlm(llava_dir if which == "llava" else ours_dir)
    assert set(NAMES) <= set(vlm.hook_points())
    x = inputs(LLAVA_IMG if which == "llava" else OURS_IMG)
    with torch.no_grad():
        _, cache = vlm.run_with_cache(names=NAMES, **x)
    T, Tv = 20, 16 if which == "llava" else 17  # our tower has a CLS token
    assert cache["language_model.blocks.1.attn.hook_pattern"].shape == (2, 2, T, T)
    assert cache["language_model.blocks.0.attn.hook_z"].shape == (2, T, 2, 8)
    assert cache["vision_tower.blocks.0.attn.hook_pattern"].shape == (2, 2, Tv, Tv)
    assert cache["multi_modal_projector.hook_out"].shape == (2, 16, 16)
    lm = cache["language_model.blocks.0.attn.hook_pattern"]
    assert (lm.triu(1) == 0).all() and torch.allclose(lm.sum(-1), torch.ones(2, 2, T))  # causal rows
    assert (cache["vision_tower.blocks.0.attn.hook_pattern"] > 0).all()  # bidirectional
    torch.testing.assert_close(cache["language_model.blocks.0.hook_resid_post"],
                               cache["language_model.blocks.1.hook_resid_pre"])
    # the spliced image tokens are the projector's output
    torch.testing.assert_close(cache["language_model.blocks.0.hook_resid_pre"][:, 1:17],
                               cache["multi_modal_projector.hook_out"])


def zeros(s, hook):
    """Equal logits: the pattern becomes uniform over the allowed (causal) keys."""
    return torch.zeros_like(s)


def test_llava_adapter_computes_stock_eager_logits(llava_dir):
    ref = LlavaForConditionalGeneration.from_pretrained(llava_dir, attn_implementation="eager").eval()
    vlm = load_vlm(llava_dir)
    x = inputs(LLAVA_IMG)
    with torch.no_grad():
        a = ref(**x, output_attentions=True)
        b, cache = vlm.run_with_cache(names=["language_model.blocks.1.attn.hook_pattern"], **x)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.attentions[1], cache["language_model.blocks.1.attn.hook_pattern"])


@pytest.mark.parametrize("which", ["llava", "ours"])
def test_score_edit_and_head_ablation_act(which, llava_dir, ours_dir):
    vlm = load_vlm(llava_dir if which == "llava" else ours_dir)
    x = inputs(LLAVA_IMG if which == "llava" else OURS_IMG)
    T = 20
    with torch.no_grad():
        base = vlm(**x).logits
        grab = {}
        vlm.run_with_hooks(fwd_hooks=[("language_model.blocks.0.attn.hook_scores", zeros),
                                      ("language_model.blocks.0.attn.hook_pattern",
                                       lambda p, h: grab.setdefault("p", p.detach().clone()))], **x)
        uniform = torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]
        torch.testing.assert_close(grab["p"], uniform.expand(2, 2, T, T))
        ablated = vlm.run_with_hooks(fwd_hooks=[("language_model.blocks.1.attn.hook_z",
                                                 lambda z, h: torch.zeros_like(z))], **x).logits
        assert not torch.allclose(base, ablated)
        again = vlm(**x).logits  # hooks are gone afterwards
        assert torch.equal(base, again)


def test_position_ids_pass_through_to_llava(llava_dir):
    vlm = load_vlm(llava_dir)
    x = inputs(LLAVA_IMG)
    pos = torch.arange(20).expand(2, 20)
    with torch.no_grad():
        a = vlm(**x).logits
        b = vlm(**x, position_ids=pos).logits
        c = vlm(**x, position_ids=pos.flip(-1).contiguous()).logits
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_load_vlm_names_what_it_cannot_load(tmp_path):
    with pytest.raises(AttnlabError, match="no config.json"):
        load_vlm(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(AttnlabError, match="gpt2"):
        load_vlm(tmp_path)
