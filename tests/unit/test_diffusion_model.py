"""Tiny text-to-image model: tokenizer, build, save/load in the Stable Diffusion layout, sampling."""

import json

import numpy as np
import pytest
import torch

from attnlab import AttnlabError
from attnlab.diffusion.model import TinyT2IConfig, build, image_size, load_pipeline, save_pipeline
from attnlab.diffusion.sample import generate
from attnlab.diffusion.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, build_tokenizer, encode
from tests.fixtures import TINY_T2I

torch.set_num_threads(1)

WORDS = ["a", "red", "blue", "circle", "square", "on", "the", "left", "right"]
TINY = {**TINY_T2I, "max_length": 10}


@pytest.fixture(scope="module")
def tiny():
    return build(TINY, WORDS, seed=0)


def test_tokenizer_word_level():
    tok = build_tokenizer(WORDS, max_length=8)
    ids = encode(tok, ["A red circle", "a green circle on the left and right"])
    assert ids.shape == (2, 8)
    assert ids[0].tolist() == [BOS_ID, 4, 5, 7, EOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert UNK_ID in ids[1].tolist()  # "green" is not in the vocabulary
    assert ids[1, 0] == BOS_ID
    assert tok.decode(ids[0], skip_special_tokens=True) == "a red circle"
    assert encode(tok, [""])[0].tolist()[:3] == [BOS_ID, EOS_ID, PAD_ID]


def test_config_rejects_unknown_and_inconsistent_keys():
    with pytest.raises(AttnlabError, match="widths"):
        TinyT2IConfig.from_dict({"widths": [8]})
    with pytest.raises(AttnlabError, match="attention"):
        TinyT2IConfig.from_dict({"block_out_channels": [8, 16, 16]})


def test_save_load_roundtrip_identical(tiny, tmp_path):
    save_pipeline(tiny, tmp_path / "m")
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert (tmp_path / "m" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "m" / "text_encoder" / "model.safetensors").is_file()
    loaded = load_pipeline(tmp_path / "m")
    assert loaded["vae"] is None and image_size(loaded) == 8
    prompts = ["a red circle on the left", "a blue square"]
    a = generate(tiny, prompts, seed=3, steps=2, guidance=2.0)
    b = generate(loaded, prompts, seed=3, steps=2, guidance=2.0)
    assert a.shape == (2, 8, 8, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_seeds_control_noise(tiny):
    same = generate(tiny, ["a red circle", "a red circle"], seed=[5, 5], steps=2, guidance=1.0)
    np.testing.assert_array_equal(same[0], same[1])
    diff = generate(tiny, ["a red circle", "a red circle"], seed=5, steps=2, guidance=1.0)
    assert not np.array_equal(diff[0], diff[1])


def test_missing_dir_and_subfolder_named(tiny, tmp_path):
    with pytest.raises(AttnlabError, match="nowhere"):
        load_pipeline(tmp_path / "nowhere")
    save_pipeline(tiny, tmp_path / "m")
    import shutil

    shutil.rmtree(tmp_path / "m" / "text_encoder")
    with pytest.raises(AttnlabError, match="text_encoder"):
        load_pipeline(tmp_path / "m")


class _Probe:
    """diffusers' default attention that records the `probe` keyword it receives."""

    def __init__(self, seen: list):
        self.seen = seen

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, probe=None):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.seen.append(probe)
        return AttnProcessor2_0()(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def test_sampler_passes_cross_attention_kwargs_through(tiny):
    seen = []
    unet = tiny["unet"]
    saved = unet.attn_processors
    n_procs = len(saved)
    marker = object()
    unet.set_attn_processor(_Probe(seen))
    try:
        plain = generate(tiny, ["a red circle"], seed=[3], steps=2, guidance=2.0)
        assert seen == [None] * (2 * n_procs)  # no kwargs: the processors get their defaults
        seen.clear()
        probed = generate(tiny, ["a red circle"], seed=[3], steps=2, guidance=2.0,
                          cross_attention_kwargs={"probe": marker})
    finally:
        unet.set_attn_processor(saved)
    assert len(seen) == 2 * n_procs and all(s is marker for s in seen)
    np.testing.assert_array_equal(plain, probed)


def test_patch_folds_pixels_into_channels_losslessly(tmp_path):
    from attnlab.diffusion.model import pixel_patch
    from attnlab.diffusion.sample import decode, encode_images

    comps = build({**TINY, "patch": 2, "block_out_channels": [8, 8], "time_scale_shift": "scale_shift"}, WORDS, seed=0)
    unet = comps["unet"]
    assert unet.config.in_channels == 12 and unet.config.out_channels == 12 and unet.config.sample_size == 4
    assert pixel_patch(comps) == 2 and image_size(comps) == 8
    # pixel (y, x) of channel c sits at channel c * 4 + (y % 2) * 2 + (x % 2) of cell (y // 2, x // 2)
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(1, 8, 8, 3)
    z = encode_images(comps, img)
    assert z.shape == (1, 12, 4, 4)
    assert float(z[0, 1 * 4 + 1 * 2 + 0, 2, 3]) == pytest.approx(float(img[0, 5, 6, 1]) / 127.5 - 1, abs=1e-6)
    np.testing.assert_array_equal(decode(comps, z), img)
    save_pipeline(comps, tmp_path / "m")
    loaded = load_pipeline(tmp_path / "m")
    assert pixel_patch(loaded) == 2 and image_size(loaded) == 8
    out = generate(loaded, ["a red circle"], seed=1, steps=2, guidance=2.0)
    assert out.shape == (1, 8, 8, 3)
    with pytest.raises(AttnlabError, match="patch"):
        TinyT2IConfig.from_dict({**TINY, "patch": 3})


def test_mask_padding_hides_the_pad_tail_from_cross_attention(tmp_path):
    from attnlab.diffusion.sample import prompt_mask

    comps = build({**TINY, "mask_padding": True}, WORDS, seed=0)
    assert prompt_mask(comps, ["a red circle", ""]).tolist() == [[1] * 5 + [0] * 5, [1, 1] + [0] * 8]
    prompts = ["a red circle", "a blue square on the left"]
    masked = generate(comps, prompts, seed=1, steps=2, guidance=2.0)
    assert not np.array_equal(masked, generate({**comps, "mask_padding": False}, prompts, seed=1, steps=2, guidance=2.0))
    # with the mask, the [PAD] tail's embeddings cannot reach the UNet's output
    mask = prompt_mask(comps, prompts)
    emb = comps["text_encoder"](encode(comps["tokenizer"], prompts))[0].detach()
    noisy_tail = emb + 5.0 * (1 - mask)[..., None] * torch.randn(emb.shape, generator=torch.Generator().manual_seed(0))
    x, t = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([10, 500])
    with torch.no_grad():
        a = comps["unet"](x, t, encoder_hidden_states=emb, encoder_attention_mask=mask).sample
        b = comps["unet"](x, t, encoder_hidden_states=noisy_tail, encoder_attention_mask=mask).sample
        c = comps["unet"](x, t, encoder_hidden_states=noisy_tail).sample
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    save_pipeline(comps, tmp_path / "m")
    loaded = load_pipeline(tmp_path / "m")
    assert loaded["mask_padding"] is True
    np.testing.assert_array_equal(generate(loaded, prompts, seed=1, steps=2, guidance=2.0), masked)
    assert load_pipeline(tmp_path / "m")["mask_padding"] and not build(TINY, WORDS, seed=0)["mask_padding"]
