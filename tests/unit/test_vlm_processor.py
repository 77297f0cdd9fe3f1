"""The VLM processor (vlm_design §2): word-level tokenizer + <image>, LlavaProcessor over
ViTImageProcessorPil, 64 placeholders for 32×32, AutoProcessor reload, example encoding."""

import numpy as np
import torch
from transformers import AutoProcessor

from attnlab.diffusion.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from attnlab.vlm.processor import IMAGE_TOKEN, build_processor, collate, encode_example, image_token_id
from attnlab.world.caption import VOCAB

WORDS = list(VOCAB) + "describe is there what ? yes no".split()


def test_tokenizer_words_and_image_token():
    p = build_processor(WORDS)
    tok = p.tokenizer
    img = image_token_id(p)
    assert img == len(tok) - 1 and tok.convert_ids_to_tokens(img) == IMAGE_TOKEN
    ids = tok("is there a red circle ?").input_ids
    assert ids[0] == BOS_ID and EOS_ID not in ids and UNK_ID not in ids and len(ids) == 7
    assert tok("<image> describe").input_ids == [BOS_ID, img, tok.convert_tokens_to_ids("describe")]
    assert tok("zebra").input_ids == [BOS_ID, UNK_ID]


def test_one_image_token_expands_to_64_for_32x32_and_pixels_are_normalised():
    p = build_processor(WORDS)
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:] = 255
    e = encode_example(p, "<image> describe", "a red circle", image=image)
    ids = e["input_ids"]
    assert int((ids == image_token_id(p)).sum()) == 64 and ids[0] == BOS_ID
    assert e["answer_start"] == 1 + 64 + 1 and ids[-1] == EOS_ID
    assert e["labels"][:66].eq(-100).all() and torch.equal(e["labels"][66:], ids[66:])
    px = e["pixel_values"]
    assert px.shape == (3, 32, 32)
    assert torch.allclose(px[:, :, :16], torch.tensor(-1.0)) and torch.allclose(px[:, :, 16:], torch.tensor(1.0))


def test_auto_processor_reload(tmp_path):
    p = build_processor(WORDS)
    p.save_pretrained(tmp_path)
    q = AutoProcessor.from_pretrained(tmp_path)
    assert type(q).__name__ == "LlavaProcessor"
    image = (np.arange(32 * 32 * 3) % 256).astype(np.uint8).reshape(32, 32, 3)
    a = encode_example(p, "<image> is there a red circle ?", "yes", image=image)
    b = encode_example(q, "<image> is there a red circle ?", "yes", image=image)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])


def test_collate_pads_and_shifts_answer_start():
    p = build_processor(WORDS)
    a = encode_example(p, "describe", "a red circle")
    b = encode_example(p, "is there a red circle ?", "no")
    right = collate([a, b])
    assert right["input_ids"].shape == (2, 9) and right["attention_mask"][0].tolist() == [1] * 6 + [0] * 3
    assert right["answer_start"].tolist() == [2, 7] and "pixel_values" not in right
    left = collate([encode_example(p, "describe"), encode_example(p, "is there a red circle ?")], left=True)
    assert left["input_ids"][0].tolist()[:5] == [PAD_ID] * 5 and left["answer_start"].tolist() == [7, 7]
