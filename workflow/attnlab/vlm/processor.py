"""The VLM's processor (vlm_design §2): our word-level tokenizer plus the special token `<image>`,
`ViTImageProcessorPil` (torchvision is not a dependency; the PIL backend needs none) and
`LlavaProcessor`, which expands one `<image>` into (image_size / patch_size)² placeholders
(64 for 32×32 at patch 4; the model drops the tower's CLS output itself).

Every encoding is `[BOS] words...` without `[EOS]`: a prompt is ready for generation, and a
training sequence is prompt + answer + `[EOS]` (`encode_example`). Special ids: [PAD] 0, [UNK] 1,
[BOS] 2, [EOS] 3 (attnlab.diffusion.tokenizer), then the words, then `<image>` (the last id).
    proc = build_processor()                 # words: attnlab.vlm.data.VOCAB
    proc.save_pretrained(run_dir); AutoProcessor.from_pretrained(run_dir)
"""

from __future__ import annotations

import io

import numpy as np

from attnlab.diffusion.tokenizer import BOS_ID, EOS_ID, PAD_ID, build_tokenizer

IMAGE_TOKEN = "<image>"
MAX_LENGTH = 256


def default_words() -> list[str]:
    """The closed vocabulary of the VLM world (attnlab.vlm.data.VOCAB: captions, questions, answers)."""
    from attnlab.vlm.data import VOCAB

    return list(VOCAB)


def build_tokenizer_with_image(words: list[str] | None = None, max_length: int = MAX_LENGTH):
    """build_tokenizer(words) with `<image>` added as a special token and no [EOS] appended.
    `<image>` takes the id after the words (len(tokenizer) - 1); AttnVLMConfig.image_token_id must
    be `image_token_id(processor)`."""
    from tokenizers import processors

    words = default_words() if words is None else list(words)
    if IMAGE_TOKEN in words:
        words.remove(IMAGE_TOKEN)
    tok = build_tokenizer(words, max_length)
    tok.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tok.image_token = IMAGE_TOKEN
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", BOS_ID)])
    return tok


def image_token_id(processor) -> int:
    return processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


def build_processor(words: list[str] | None = None, image_size: int = 32, patch_size: int = 4,
                    max_length: int = MAX_LENGTH):
    from transformers import LlavaProcessor
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    tok = build_tokenizer_with_image(words, max_length)
    image_processor = ViTImageProcessorPil(do_resize=False, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
                                           size={"height": image_size, "width": image_size})
    return LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=patch_size,
                          vision_feature_select_strategy="full", num_additional_image_tokens=0,
                          image_token=IMAGE_TOKEN)


def as_pil(image):
    """PNG bytes, an (H, W, 3) uint8 array or a PIL image -> a PIL RGB image."""
    from PIL import Image

    if isinstance(image, (bytes, bytearray)):
        return Image.open(io.BytesIO(image)).convert("RGB")
    if isinstance(image, np.ndarray):
        return Image.fromarray(image.astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def encode_example(processor, prompt: str, answer: str | None = None, image=None) -> dict:
    """One sequence: `input_ids` ([BOS] prompt (with <image> expanded) [answer [EOS]]), `labels`
    (the answer and [EOS]; -100 elsewhere), `answer_start` (the prompt length) and, with an image,
    `pixel_values` (1, 3, H, W). Without an answer: the prompt only (for generation)."""
    import torch

    kw = {"images": [as_pil(image)]} if image is not None else {}
    enc = processor(text=[prompt], return_tensors="pt", **kw)
    ids = enc["input_ids"][0]
    out = {"answer_start": int(ids.shape[0])}
    if answer is not None:
        ans = processor.tokenizer(answer, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
        ids = torch.cat([ids, ans, torch.tensor([EOS_ID])])
        labels = torch.full_like(ids, -100)
        labels[out["answer_start"]:] = ids[out["answer_start"]:]
        out["labels"] = labels
    out["input_ids"] = ids
    if image is not None:
        out["pixel_values"] = enc["pixel_values"][0]
    return out


def collate(examples: list[dict], pad_id: int = PAD_ID, left: bool = False) -> dict:
    """Pad a list of `encode_example` outputs to one batch (right padding for training, left for
    generation): input_ids, attention_mask, labels, answer_start (per row, shifted by left padding),
    pixel_values (only when every example has an image)."""
    import torch

    T = max(int(e["input_ids"].shape[0]) for e in examples)
    B = len(examples)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    starts = []
    for i, e in enumerate(examples):
        n = int(e["input_ids"].shape[0])
        sl = slice(T - n, T) if left else slice(0, n)
        ids[i, sl] = e["input_ids"]
        mask[i, sl] = 1
        if "labels" in e:
            labels[i, sl] = e["labels"]
        starts.append(e["answer_start"] + (T - n if left else 0))
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels, "answer_start": torch.tensor(starts)}
    if all("pixel_values" in e for e in examples):
        batch["pixel_values"] = torch.stack([e["pixel_values"] for e in examples])
    return batch
