"""A fake local Stable Diffusion folder (tiny AutoencoderKL, CLIP BPE tokenizer, PNDM scheduler) samples
in latent space, loaded with local files only."""

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, PNDMScheduler
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from attnlab.diffusion import generate as gen
from attnlab.diffusion.model import TinyT2IConfig, build_unet, image_size, load_pipeline, save_pipeline
from attnlab.diffusion.sample import encode_images, generate

torch.set_num_threads(1)

WORDS = ["a", "red", "blue", "circle", "square"]


def clip_tokenizer(tmp_path) -> CLIPTokenizer:
    """A byte-pair CLIP tokenizer over a few whole words, written by hand (no hub files)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    merges = []
    for w in WORDS:
        for c in w:
            vocab.setdefault(c, len(vocab))
            vocab.setdefault(c + "</w>", len(vocab))
        cur = w[0]
        for i, c in enumerate(w[1:]):
            nxt = c + ("</w>" if i == len(w) - 2 else "")
            merges.append(f"{cur} {nxt}")
            cur += nxt
            vocab.setdefault(cur, len(vocab))
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"), model_max_length=8)


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sd")
    tok = clip_tokenizer(tmp)
    torch.manual_seed(0)
    cfg = TinyT2IConfig.from_dict({"image_size": 8, "channels": 4, "block_out_channels": [8, 16],
                                   "attention": [True, True], "norm_num_groups": 4, "text_width": 16})
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=8,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8), latent_channels=4,
                        norm_num_groups=4, sample_size=16, scaling_factor=0.5)
    comps = {"unet": build_unet(cfg), "text_encoder": text, "tokenizer": tok, "vae": vae,
             "scheduler": PNDMScheduler(beta_schedule="scaled_linear", skip_prk_steps=True)}
    save_pipeline(comps, tmp / "sd")
    return tmp / "sd"


def test_latent_space_sampling(sd_dir):
    assert (sd_dir / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    comps = load_pipeline(sd_dir)
    assert isinstance(comps["vae"], AutoencoderKL) and isinstance(comps["scheduler"], PNDMScheduler)
    assert isinstance(comps["tokenizer"], CLIPTokenizer)
    assert image_size(comps) == 16  # 8x8 latents, one 2x down-sampling in the vae
    imgs = generate(comps, ["a red circle", "a blue square"], seed=1, steps=2, guidance=2.0)
    assert imgs.shape == (2, 16, 16, 3) and imgs.dtype == np.uint8
    again = generate(load_pipeline(sd_dir), ["a red circle", "a blue square"], seed=1, steps=2, guidance=2.0)
    np.testing.assert_array_equal(imgs, again)
    assert encode_images(comps, imgs).shape == (2, 4, 8, 8)


def test_ir_attention_in_latent_space(sd_dir):
    comps = load_pipeline(sd_dir)
    m0, m1 = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    m0[2:8, 2:8], m1[8:14, 8:14] = True, True
    variant = {"share": True, "isolate": True, "reposition": True}
    refs, target = gen.generate_consistent(comps, ["a red circle", "a blue square"], "a red circle a blue square",
                                          [m0, m1], [m0, m1], variant=variant, seed=2, steps=2, guidance=2.0,
                                          layers="all")
    assert refs.shape == (2, 16, 16, 3) and target.shape == (16, 16, 3)
    frames = gen.generate_sequence(comps, ["a red circle", "a red square"], [[m0], [m1]], variant=variant,
                                  seed=2, steps=2, guidance=2.0)
    assert frames.shape == (2, 16, 16, 3)
