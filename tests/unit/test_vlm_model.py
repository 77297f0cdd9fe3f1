"""The VLM core (vlm_design §2, §2.1): TokenLayout, image position orders, the structure mask, the
ViT tower, splicing, Auto round trip and generation. Hand-made inputs with known answers."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

import attnlab  # noqa: F401  (registers the Auto classes)
from attnlab.lm.configuration import AttnLMConfig
from attnlab.vlm.configuration import AttnViTConfig, AttnVLMConfig
from attnlab.vlm.layout import ANSWER, IMAGE, QUESTION, TEXT, TokenLayout
from attnlab.vlm.modeling import AttnViTModel, AttnVLMForConditionalGeneration

IMG = 4


def tiny_vlm(image_size=8, patch_size=4, **kw):
    torch.manual_seed(0)
    vc = AttnViTConfig(image_size=image_size, patch_size=patch_size, n_embd=16, n_layer=2, n_head=2)
    tc = AttnLMConfig(vocab_size=24, n_embd=16, n_layer=2, n_head=2, position_encoding="rope",
                      rope_theta=500.0, n_positions=64)
    n = (image_size // patch_size) ** 2
    return AttnVLMForConditionalGeneration(AttnVLMConfig(vision_config=vc, text_config=tc, image_token_id=IMG,
                                                         image_seq_length=n, **kw)).eval()


def test_token_layout_types_spans_and_grid():
    ids = torch.tensor([[1, IMG, IMG, IMG, IMG, 10, 11, 12, 13, 0]])
    mask = torch.tensor([[1] * 9 + [0]])
    labels = torch.tensor([[-100] * 7 + [12, 13, -100]])
    lay = TokenLayout.build(ids, IMG, grid_size=2, attention_mask=mask, answer_mask=labels != -100)
    assert lay.token_type.tolist() == [[TEXT, IMAGE, IMAGE, IMAGE, IMAGE, QUESTION, QUESTION, ANSWER, ANSWER, TEXT]]
    assert lay.grid_rc[0, 1:5].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert (lay.grid_rc[0, [0, 5, 9]] == -1).all()
    assert lay.image_span.tolist() == [[1, 5]] and lay.question_span.tolist() == [[5, 7]]
    assert lay.answer_span.tolist() == [[7, 9]]
    gen = TokenLayout.build(ids[:, :9], IMG, grid_size=2, answer_start=7)  # generation: prompt length 7
    assert gen.token_type.tolist() == lay.token_type[:, :9].tolist()


def test_token_layout_rejects_a_partial_image():
    with pytest.raises(ValueError, match="0 or 4"):
        TokenLayout.build(torch.tensor([[1, IMG, IMG, 5]]), IMG, grid_size=2)


def test_position_orders():
    ids = torch.tensor([[1] + [IMG] * 16 + [10, 11]])
    lay = TokenLayout.build(ids, IMG, grid_size=4)
    assert lay.position_ids("raster").tolist() == [list(range(19))]
    assert lay.position_ids("reversed").tolist() == [[0] + list(range(16, 0, -1)) + [17, 18]]
    ring = [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]  # 4×4: the inner 2×2 is ring 1
    assert lay.position_ids("concentric").tolist() == [[0] + [1 + r for r in ring] + [3, 4]]
    left = TokenLayout.build(torch.cat([torch.zeros(1, 2, dtype=torch.long), ids], 1), IMG, grid_size=4,
                             attention_mask=torch.tensor([[0, 0] + [1] * 19]))
    assert left.position_ids("concentric", torch.tensor([[0, 0] + [1] * 19]))[0, 2:].tolist() == \
        lay.position_ids("concentric")[0].tolist()


def test_structure_masks():
    ids = torch.tensor([[1] + [IMG] * 4 + [10, 11]])
    lay = TokenLayout.build(ids, IMG, grid_size=2, answer_start=6)  # question = token 5, answer = 6
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    raster = lay.structure(lay.position_ids("raster"))
    assert raster.shape == (1, 1, 7, 7) and torch.equal(raster[0, 0], causal)
    rev = lay.structure(lay.position_ids("reversed"))[0, 0]
    assert torch.equal(rev[1:5, 1:5], torch.ones(4, 4, dtype=torch.bool).triu())  # mirrored triangle
    assert torch.equal(rev[5:], causal[5:]) and rev[1:5, 0].all()
    mutual = lay.structure(lay.position_ids("raster"), "question")[0, 0]
    expected = causal.clone()
    expected[1:5, 5] = True  # image rows read the question column, never the answer's
    assert torch.equal(mutual, expected)
    ids16 = torch.tensor([[1] + [IMG] * 16 + [10]])
    lay16 = TokenLayout.build(ids16, IMG, grid_size=4)
    cc = lay16.structure(lay16.position_ids("concentric"))[0, 0, 1:17, 1:17]
    inner = torch.tensor([5, 6, 9, 10])
    outer = torch.tensor([i for i in range(16) if i not in inner.tolist()])
    assert cc[inner].all()  # the inner ring reads every image token
    assert cc[outer][:, outer].all() and not cc[outer][:, inner].any()  # outer reads outer only


def test_vit_is_bidirectional_with_named_hooks():
    m = tiny_vlm(image_size=8, patch_size=2)  # 16 patches + CLS
    tower = m.vision_tower
    x = torch.randn(1, 3, 8, 8)
    names = ["blocks.0.attn.hook_pattern", "blocks.1.hook_resid_post", "blocks.0.attn.hook_z", "blocks.0.attn.hook_scores"]
    _, cache = tower.run_with_cache(x, names=names)
    p = cache["blocks.0.attn.hook_pattern"]
    assert p.shape == (1, 2, 17, 17) and (p > 0).all()  # every query reads every key
    y = x.clone()
    y[..., -2:, -2:] += 1.0  # change the last patch: the first token's output changes
    a = tower(x, output_hidden_states=True).hidden_states[1][0, 0]
    b = tower(y, output_hidden_states=True).hidden_states[1][0, 0]
    assert not torch.allclose(a, b)
    for n in names:
        assert f"vision_tower.{n}" in m.hook_points()


def test_image_features_are_spliced_at_the_placeholders():
    m = tiny_vlm()
    ids = torch.tensor([[1] + [IMG] * 4 + [10, 11], [1] + [IMG] * 4 + [12, 13]])
    px = torch.randn(2, 3, 8, 8)
    names = ["multi_modal_projector.hook_out", "language_model.blocks.0.hook_resid_pre"]
    _, cache = m.run_with_cache(ids, pixel_values=px, names=names)
    feats, resid = cache[names[0]], cache[names[1]]
    assert feats.shape == (2, 4, 16)
    assert torch.equal(resid[:, 1:5], feats)
    assert torch.equal(resid[:, 5:], m.language_model.wte(ids[:, 5:]).detach())
    # "default" drops CLS: the features are the projector of hidden state -1 without its first row
    hs = m.vision_tower(px, output_hidden_states=True).hidden_states[-1][:, 1:]
    torch.testing.assert_close(feats, m.multi_modal_projector(hs).detach())


def test_raster_equals_the_plain_causal_lm_and_mutual_reads_the_question():
    m = tiny_vlm()
    px = torch.randn(1, 3, 8, 8)
    ids_a = torch.tensor([[1] + [IMG] * 4 + [10, 11]])
    ids_b = torch.tensor([[1] + [IMG] * 4 + [12, 11]])
    with torch.no_grad():
        out = m(ids_a, pixel_values=px)
        feats = m.get_image_features(px)
        embeds = m.language_model.wte(ids_a).masked_scatter((ids_a == IMG)[..., None].expand(1, 7, 16), feats)
        ref = m.language_model(inputs_embeds=embeds).logits
        assert torch.equal(out.logits, ref)
        # image rows do not see the question under causal attention ...
        la, lb = m(ids_a, pixel_values=px).logits, m(ids_b, pixel_values=px).logits
        assert torch.equal(la[:, :5], lb[:, :5])
        m.config.modality_mutual = "question"  # ... and do with AKI's modality-mutual mask
        la, lb = m(ids_a, pixel_values=px, answer_start=6).logits, m(ids_b, pixel_values=px, answer_start=6).logits
        assert not torch.allclose(la[:, 1:5], lb[:, 1:5]) and torch.equal(la[:, :1], lb[:, :1])


def test_save_and_auto_reload_is_bit_equal(tmp_path):
    m = tiny_vlm(image_position_order="concentric", modality_mutual="question")
    m.save_pretrained(tmp_path)
    cfg = AutoConfig.from_pretrained(tmp_path)
    assert cfg.model_type == "attnlab_vlm" and cfg.image_position_order == "concentric"
    assert cfg.text_config.rope_theta == 500.0 and isinstance(cfg.vision_config, AttnViTConfig)
    for auto in (AutoModel, AutoModelForImageTextToText):
        r = auto.from_pretrained(tmp_path).eval()
        assert type(r) is AttnVLMForConditionalGeneration
        sa, sb = m.state_dict(), r.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
        ids = torch.tensor([[1] + [IMG] * 4 + [10, 11]])
        px = torch.randn(1, 3, 8, 8)
        with torch.no_grad():
            assert torch.equal(m(ids, pixel_values=px).logits, r(ids, pixel_values=px).logits)
    assert "language_model.blocks.1.attn.hook_scores" in r.hook_points()


def test_vit_alone_round_trips(tmp_path):
    v = AttnViTModel(AttnViTConfig(image_size=8, n_embd=16, n_layer=1, n_head=2)).eval()
    v.save_pretrained(tmp_path)
    r = AutoModel.from_pretrained(tmp_path).eval()
    x = torch.randn(2, 3, 8, 8)
    assert type(r) is AttnViTModel and torch.equal(v(x).pooler_output, r(x).pooler_output)


def test_generate_runs_the_vit_once_and_matches_greedy_forward():
    m = tiny_vlm()
    calls = []
    m.vision_tower.register_forward_hook(lambda *a: calls.append(1))
    ids = torch.tensor([[1] + [IMG] * 4 + [10], [1] + [IMG] * 4 + [11]])
    px = torch.randn(2, 3, 8, 8)
    out = m.generate(ids, pixel_values=px, max_new_tokens=4, do_sample=False, eos_token_id=None)
    assert len(calls) == 1 and out.shape == (2, 10) and torch.equal(out[:, :6], ids)
    seq = ids  # greedy by hand: the same tokens
    with torch.no_grad():
        for _ in range(4):
            seq = torch.cat([seq, m(seq, pixel_values=px).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq)


def test_config_checks_name_the_key():
    with pytest.raises(ValueError, match="image_position_order"):
        AttnVLMConfig(image_position_order="spiral")
    with pytest.raises(ValueError, match="modality_mutual"):
        AttnVLMConfig(modality_mutual="all")
    with pytest.raises(ValueError, match="patch_size"):
        AttnViTConfig(image_size=30, patch_size=4)


@pytest.mark.parametrize("order", ["raster", "concentric"])
def test_left_padded_batch_generates_as_each_prompt_alone(order):
    """Prompts of different lengths in one left-padded batch: the same greedy tokens as alone
    (positions count real tokens only; padded keys are masked)."""
    m = tiny_vlm(image_position_order=order)
    px = torch.randn(2, 3, 8, 8)
    a = torch.tensor([[1] + [IMG] * 4 + [10, 11, 12]])
    b = torch.tensor([[1] + [IMG] * 4 + [13]])
    ids = torch.cat([a, torch.cat([torch.zeros(1, 2, dtype=torch.long), b], 1)])
    mask = torch.tensor([[1] * 8, [0, 0] + [1] * 6])
    kw = {"max_new_tokens": 3, "do_sample": False, "eos_token_id": None, "pad_token_id": 0}
    both = m.generate(ids, pixel_values=px, attention_mask=mask, **kw)
    alone_a = m.generate(a, pixel_values=px[:1], **kw)
    alone_b = m.generate(b, pixel_values=px[1:], **kw)
    assert torch.equal(both[0, -3:], alone_a[0, -3:]) and torch.equal(both[1, -3:], alone_b[0, -3:])


@pytest.mark.parametrize("order,mutual", [("raster", "none"), ("concentric", "none"), ("raster", "question")])
def test_generate_with_the_kv_cache_equals_recomputing_the_prefix(order, mutual):
    """The prompt (image spliced in) runs once; each new token reads the cache with the position,
    type and structure row the whole sequence's layout gives it: the same greedy tokens as
    recomputing every prefix, on a left-padded batch."""
    from tests.unit.test_lm import block_lengths

    m = tiny_vlm(image_position_order=order, modality_mutual=mutual)
    px = torch.randn(2, 3, 8, 8)
    ids = torch.tensor([[1] + [IMG] * 4 + [10, 11, 12], [0, 0, 1] + [IMG] * 4 + [13]])
    mask = torch.tensor([[1] * 8, [0, 0] + [1] * 6])
    kw = {"max_new_tokens": 4, "do_sample": False, "eos_token_id": None, "pad_token_id": 0}
    seen = block_lengths(m, m.language_model.blocks)
    out = m.generate(ids, pixel_values=px, attention_mask=mask, **kw)
    assert seen == [8, 1, 1, 1]
    assert torch.equal(out, m.generate(ids, pixel_values=px, attention_mask=mask, use_cache=False, **kw))
    with pytest.raises(ValueError, match="with a filled cache"):
        from transformers import DynamicCache

        cache = DynamicCache(config=m.config.text_config)
        m(ids, pixel_values=px, attention_mask=mask, cache=cache)
        m(ids[:, -1:], attention_mask=torch.cat([mask, mask[:, -1:]], 1), cache=cache)
