"""Greedy predictions of a trained VLM on data rows (attnlab.vlm.data SCHEMA), for the metrics of
attnlab.vlm.metrics: one answer string per row.

Each task is decoded greedily (no sampling) for at most MAX_NEW_TOKENS[task] tokens, prompts
left-padded in batches of one task. An existence (POPE) answer is the first generated word (the
metric reads the first word only), so one token is generated.

    model, processor = load_run(run_dir)
    preds = predict(model, processor, frame, batch_size=64)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.diffusion.tokenizer import EOS_ID, PAD_ID
from attnlab.vlm.processor import IMAGE_TOKEN

# captions are at most 30 words (world.caption); VQA answers at most 4 ("at the top left"),
# causal captions at most 9
MAX_NEW_TOKENS = {"caption": 32, "existence": 1, "attribute": 6, "hidden_identity": 3, "causal_order": 12}


def load_run(run_dir: str):
    """(model in eval mode, processor) of a stage-A/S run directory (AutoModel + AutoProcessor)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import attnlab.models  # noqa: F401  registers the attnlab model types with the Auto classes

    model = AutoModelForImageTextToText.from_pretrained(run_dir)
    return model.eval(), AutoProcessor.from_pretrained(run_dir)


def prompt_ids(processor, prompt: str, n_image_tokens: int) -> list[int]:
    """[BOS] prompt, its one <image> expanded to n_image_tokens placeholders."""
    text = prompt.replace(IMAGE_TOKEN, " ".join([IMAGE_TOKEN] * n_image_tokens))
    return processor.tokenizer(text).input_ids


def decode(processor, ids) -> str:
    """Generated ids up to the first [EOS] as words (special tokens dropped)."""
    ids = [int(i) for i in ids]
    if EOS_ID in ids:
        ids = ids[: ids.index(EOS_ID)]
    words = processor.tokenizer.convert_ids_to_tokens([i for i in ids if i != PAD_ID])
    special = set(processor.tokenizer.all_special_tokens)
    return " ".join(w for w in words if w not in special)


@torch.no_grad()
def generate_batch(model, processor, prompts: list[str], images: list, max_new_tokens: int) -> list[str]:
    """Greedy continuations of left-padded prompts (each with one image, PNG bytes); through the KV
    cache whatever the run directory's saved `use_cache` (runs written before the cache existed say
    false), where the language model's attention takes one."""
    from attnlab.vlm.train import pixel_tensor

    n = model.config.image_seq_length
    seqs = [prompt_ids(processor, p, n) for p in prompts]
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), PAD_ID, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, T - len(s):] = torch.tensor(s)
        mask[i, T - len(s):] = 1
    out = model.generate(ids, pixel_values=pixel_tensor(processor, list(images)), attention_mask=mask,
                         max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=EOS_ID, pad_token_id=PAD_ID,
                         use_cache=True)
    return [decode(processor, row[T:]) for row in out]


def predict(model, processor, frame: pd.DataFrame, batch_size: int = 64) -> list[str]:
    """One greedy answer per row of `frame`, in row order (batched per task)."""
    frame = frame.reset_index(drop=True)
    preds: list[str | None] = [None] * len(frame)
    for task, group in frame.groupby("task", sort=False):
        limit = MAX_NEW_TOKENS.get(str(task), 32)
        idx = group.index.to_numpy()
        for lo in range(0, len(idx), batch_size):
            part = idx[lo:lo + batch_size]
            out = generate_batch(model, processor, list(frame.prompt[part]), list(frame.image[part]), limit)
            for i, p in zip(part, out):
                preds[int(i)] = p
    return [p if p is not None else "" for p in preds]


def subsample(frame: pd.DataFrame, per_task: int | None, seed: int) -> pd.DataFrame:
    """At most `per_task` rows of each task (existence: per POPE split), drawn without replacement by
    `seed`, in the frame's order; None keeps every row."""
    if per_task is None:
        return frame
    rng = np.random.default_rng(seed)
    keep = []
    for _, g in frame.groupby(["task", "pope_split"], sort=False):
        idx = g.index.to_numpy()
        keep += sorted(rng.choice(idx, size=min(per_task, len(idx)), replace=False).tolist())
    return frame.loc[sorted(keep)]


# --- the stage-V tower and its multi-label heads ------------------------------------------------
TOWER_ATTRIBUTES = ("present", "count", "background", "ring")


def load_tower(run_dir: str):
    """The stage-V VisionPretrainer (tower + heads) of a run directory, in eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from attnlab.vlm.modeling import AttnViTModel
    from attnlab.vlm.train import HEADS_FILE, VisionPretrainer

    path = f"{run_dir}/{HEADS_FILE}"
    with safe_open(path, "pt") as fh:
        max_count = int(fh.metadata()["max_count"])
    model = VisionPretrainer(AttnViTModel.from_pretrained(run_dir), max_count)
    model.heads.load_state_dict(load_file(path))
    return model.eval()


def tower_examples(processor, frame: pd.DataFrame, max_count: int = 6):
    """Stage-V Examples of a frame's distinct images (attnlab.vlm.train.vision_examples), with the
    per-patch classes (attnlab.vlm.data.row_vision_targets) on the processor's patch grid."""
    from attnlab.vlm.data import row_vision_targets
    from attnlab.vlm.train import vision_examples

    rows = frame[frame["image"].notna()].drop_duplicates(subset="image")
    n_patches = n_image_patches(processor)
    return vision_examples(processor, list(rows["image"]), [row_vision_targets(r, n_patches) for r in rows.itertuples()],
                           max_count)


def n_image_patches(processor) -> int:
    """Patches per image of a processor: (image size / patch size)²."""
    size = processor.image_processor.size
    side = size["height"] if isinstance(size, dict) else size.height  # a dict or transformers' SizeDict
    return (side // processor.patch_size) ** 2


def tower_hits(out, batch: dict) -> dict[str, torch.Tensor]:
    """Per image, 1.0 where the heads are right: present = the whole set of 18 types exactly, count,
    background, ring."""
    return {"present": ((out.present > 0) == batch["present"]).all(-1).float(),
            "count": (out.count.argmax(-1) == batch["count"]).float(),
            "background": (out.background.argmax(-1) == batch["background"]).float(),
            "ring": ((out.ring > 0) == batch["ring"]).float()}


@torch.no_grad()
def tower_accuracy(model, examples, batch_size: int = 256, fwd_hooks=()) -> dict[str, float]:
    """Accuracy per attribute (TOWER_ATTRIBUTES) and their mean ("accuracy") over `examples`,
    optionally under hooks on the tower (attnlab.hooks.run_with_hooks names, e.g. head ablations)."""
    from attnlab import hooks

    hits = {a: [] for a in TOWER_ATTRIBUTES}
    for lo in range(0, len(examples), batch_size):
        b = examples.batch(np.arange(lo, min(lo + batch_size, len(examples))))
        with hooks.hooks(model.tower, fwd_hooks):
            out = model(b["pixel_values"])
        for a, h in tower_hits(out, b).items():
            hits[a].append(h)
    acc = {a: float(torch.cat(v).mean()) for a, v in hits.items()}
    acc["accuracy"] = float(np.mean([acc[a] for a in TOWER_ATTRIBUTES]))
    return acc
