"""The VLM's training stages (vlm_design §4), every seed of a stage in one process as one stack
(attnlab.train.stack, loop engine: each member bit-identical to training alone).

    stage  trains                                 data rows (attnlab.vlm.data)      writes
    V      vision tower + multi-label heads       every distinct training image     AttnViTModel dir (+ vision_heads.safetensors)
    T      language model on text                 stage "T" (prompt + answer)       AttnLMForCausalLM dir (+ processor)
    A      projector only (tower and LM frozen)   stage "A" (captions)              AttnVLMForConditionalGeneration dir (+ processor)
    S      projector + LM (tower frozen)          stage "S" (the instruction mix)   AttnVLMForConditionalGeneration dir (+ processor)

Stage V heads read the tower's CLS output (after the final LN): 18 type-present logits (BCE), the
subject count (cross-entropy over 0..max_count), the background (cross-entropy over
world.scene.BACKGROUNDS) and "any ring" (BCE); and a per-patch head reads every patch output (after
the final LN): 19-way cross-entropy over the type of the subject covering the patch or background
(attnlab.vlm.data.patch_targets, from the exact render masks; partly covered patches ignored),
weighted by `patch_weight`. The loss is their sum. The patch term is what trains the patch outputs
the projector reads (without it they get no direct signal: the CLS heads alone left the LM blind
to the image, bench/README.md "vlm: dense patch targets"). Stage T's loss covers every
text token; stages A and S train on the answer (and its [EOS]) only, with the loss a mean over the
batch's answer tokens (the design), or with `loss_per_example` a mean over examples of each
example's mean over its answer tokens (a one-token yes/no answer weighs as much as a caption).

    python -m attnlab.vlm.train --input data D.parquet [--input vision V1 ... --input text T1 ...]
                                [--input init R1 ...] --output run_dir R1 R2 ... --params JSON
    params: {"stage": "V"|"T"|"A"|"S", "seeds": [int, ...] (one per run_dir),
             "train": TrainSettings fields, "engine": "loop" (the only engine for VLM batches),
             "vision": AttnViTConfig kwargs (V), "text": AttnLMConfig kwargs (T; vocab_size comes from the
             processor), "vlm": AttnVLMConfig fields other than the sub-configs (A),
             "max_count": int (V, default 6), "patch_weight": float (V, default 1.0; 0 = CLS heads only),
             "align_trains_lm": bool (A, default false: the projector only; true: projector + LM, as S),
             "loss_per_example": bool (A and S, default false: the per-token mean; true: PerExampleLoss),
             "words": [str] (optional; default attnlab.vlm.data.VOCAB)}
    A takes `vision` (stage-V dirs) and `text` (stage-T dirs), one per seed; S takes `init` (stage-A dirs);
    a run directory may be given as its config.json (the workflow declares files, not directories).
The batch of step s of member i is a function of (seed_i, s) alone, so a killed stack resumes exactly.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.config import config_hash
from attnlab.diffusion.tokenizer import EOS_ID, PAD_ID
from attnlab.io import atomic_dir, read_parquet
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.seeds import seed_everything
from attnlab.train.stack import train_stack
from attnlab.train.trainer import LOG, TrainingPreempted, TrainSettings
from attnlab.vlm.configuration import AttnViTConfig, AttnVLMConfig
from attnlab.vlm.data import PATCH_IGNORE
from attnlab.vlm.modeling import AttnViTModel, AttnVLMForConditionalGeneration
from attnlab.vlm.processor import IMAGE_TOKEN, as_pil, build_processor, image_token_id
from attnlab.world.scene import BACKGROUNDS

STAGES = ("V", "T", "A", "S")
N_TYPES = 18
HEADS_FILE = "vision_heads.safetensors"


# --- stage V: the tower and its multi-label heads ------------------------------------------------
@dataclass
class VisionPretrainOutput(ModelOutput):
    loss: torch.Tensor | None = None
    present: torch.Tensor | None = None  # (B, 18) logits
    count: torch.Tensor | None = None  # (B, max_count + 1) logits
    background: torch.Tensor | None = None  # (B, len(BACKGROUNDS)) logits
    ring: torch.Tensor | None = None  # (B,) logit
    patch: torch.Tensor | None = None  # (B, N patches, 19) logits: TYPES then background


CLS_HEADS = ("present", "count", "background", "ring")


class VisionPretrainer(nn.Module):
    """The tower plus linear heads on its CLS output and a per-patch head on its patch outputs;
    `forward(pixel_values, present, count, background, ring, patch)` -> the summed loss (targets
    optional: without them, logits only; without `patch`, the CLS terms only)."""

    def __init__(self, tower: AttnViTModel, max_count: int = 6, patch_weight: float = 1.0):
        super().__init__()
        d = tower.config.n_embd
        self.tower, self.patch_weight = tower, float(patch_weight)
        self.heads = nn.ModuleDict({"present": nn.Linear(d, N_TYPES), "count": nn.Linear(d, max_count + 1),
                                    "background": nn.Linear(d, len(BACKGROUNDS)), "ring": nn.Linear(d, 1),
                                    "patch": nn.Linear(d, N_TYPES + 1)})

    def forward(self, pixel_values=None, present=None, count=None, background=None, ring=None, patch=None,
                start_layer: int = 0, inputs_embeds=None, **kwargs):
        last = self.tower(pixel_values, start_layer=start_layer, inputs_embeds=inputs_embeds).last_hidden_state
        cls = last[:, 0]
        out = {k: self.heads[k](cls) for k in CLS_HEADS}
        out["ring"] = out["ring"][:, 0]
        out["patch"] = self.heads["patch"](last[:, 1:])
        loss = None
        if present is not None:
            loss = (F.binary_cross_entropy_with_logits(out["present"], present.float())
                    + F.cross_entropy(out["count"], count) + F.cross_entropy(out["background"], background)
                    + F.binary_cross_entropy_with_logits(out["ring"], ring.float()))
            if patch is not None and self.patch_weight:
                loss = loss + self.patch_weight * patch_loss(out["patch"], patch)
        return VisionPretrainOutput(loss=loss, **out)


def patch_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the patches whose target is not PATCH_IGNORE; 0 when none is."""
    keep = target != PATCH_IGNORE
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], target[keep])


# --- stages A and S: per-example loss weighting (optional) -----------------------------------------
def per_example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy (as attnlab.lm.modeling.next_token_loss: labels[:, t+1] predicted at
    t, -100 = no target) averaged within each example over its targets, then over the examples that
    have a target; 0 (with a gradient path) when none has."""
    target = labels[:, 1:]
    ce = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), target, ignore_index=-100, reduction="none")
    n = (target != -100).sum(1)
    has = n > 0
    if not bool(has.any()):
        return logits.sum() * 0.0
    return (ce.sum(1)[has] / n[has]).mean()


class PerExampleLoss(nn.Module):
    """Trains `model` (a VLM) with `per_example_loss` in place of its per-token mean: the forward is
    the model's, with `loss` and `lm_loss` replaced (a mechanism `aux_loss` is still added). What a
    stage saves is `.model`; only the training checkpoints hold the wrapper."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, labels: torch.Tensor | None = None, **batch):
        out = self.model(labels=labels, **batch)
        if labels is not None:
            out.lm_loss = per_example_loss(out.logits, labels)
            out.loss = out.lm_loss if out.aux_loss is None else out.lm_loss + out.aux_loss
        return out


# --- data ------------------------------------------------------------------------------------------
class Examples:
    """Pre-encoded sequences (and images) of one stage; `batch(index)` pads them into a batch."""

    def __init__(self, ids: list[np.ndarray], labels: list[np.ndarray], image_index: np.ndarray | None,
                 pixels: torch.Tensor | None, targets: dict[str, torch.Tensor] | None = None):
        self.ids, self.labels, self.image_index, self.pixels, self.targets = ids, labels, image_index, pixels, targets

    def __len__(self) -> int:
        return len(self.ids) if self.ids else len(self.image_index)

    def batch(self, index) -> dict:
        out = {}
        if self.ids:
            T = max(len(self.ids[i]) for i in index)
            ids = np.full((len(index), T), PAD_ID, dtype=np.int64)
            labels = np.full((len(index), T), -100, dtype=np.int64)
            mask = np.zeros((len(index), T), dtype=np.int64)
            for b, i in enumerate(index):
                n = len(self.ids[i])
                ids[b, :n], labels[b, :n], mask[b, :n] = self.ids[i], self.labels[i], 1
            out = {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels),
                   "attention_mask": torch.from_numpy(mask)}
        if self.image_index is not None:
            out["pixel_values"] = self.pixels[torch.as_tensor(self.image_index[index])]
        if self.targets is not None:
            out.update({k: v[torch.as_tensor(index)] for k, v in self.targets.items()})
            if "input_ids" not in out:  # stage V: the engine counts input_ids' elements as tokens
                out["input_ids"] = torch.zeros(len(index), 1, dtype=torch.long)
        return out


class StepBatches:
    """`batches(step)`: `batch_size` examples drawn with replacement by an RNG seeded with (seed, step)."""

    def __init__(self, data: Examples, batch_size: int, seed: int):
        if len(data) == 0:
            raise AttnlabError("no training examples for this stage")
        self.data, self.batch_size, self.seed = data, batch_size, seed

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        return self.data.batch(rng.integers(0, len(self.data), self.batch_size))


def pixel_tensor(processor, images: list) -> torch.Tensor:
    """(N, 3, H, W) normalised pixels of PNG bytes / arrays / PIL images."""
    if not images:
        return torch.zeros(0)
    out = processor.image_processor([as_pil(x) for x in images], return_tensors="pt")
    return out["pixel_values"]


def encode_text(processor, prompt: str, answer: str, n_image_tokens: int, answer_only: bool) -> tuple:
    """[BOS] prompt (one <image> expanded to n_image_tokens) answer [EOS] and its labels: the
    answer and [EOS] (answer_only), or every token (stage T)."""
    tok = processor.tokenizer
    text = prompt.replace(IMAGE_TOKEN, " ".join([IMAGE_TOKEN] * n_image_tokens))
    p = tok(text).input_ids
    a = tok(answer, add_special_tokens=False).input_ids + [EOS_ID]
    ids = np.asarray(p + a, dtype=np.int64)
    labels = ids.copy()
    if answer_only:
        labels[: len(p)] = -100
    return ids, labels


def text_examples(processor, rows, n_image_tokens: int, with_images: bool, answer_only: bool) -> Examples:
    """Rows with `prompt`, `answer` and (with_images) `image` PNG bytes -> Examples."""
    ids, labels, images, index, seen = [], [], [], [], {}
    for r in rows:
        i, l = encode_text(processor, r["prompt"], r["answer"], n_image_tokens, answer_only)
        ids.append(i)
        labels.append(l)
        if with_images:
            key = bytes(r["image"])
            if key not in seen:
                seen[key] = len(images)
                images.append(key)
            index.append(seen[key])
    if with_images:
        return Examples(ids, labels, np.asarray(index), pixel_tensor(processor, images))
    return Examples(ids, labels, None, None)


def vision_examples(processor, images: list, targets: list[dict], max_count: int) -> Examples:
    """Images and their `attnlab.vlm.data.vision_targets` dicts (with "patch", the per-patch classes
    of `attnlab.vlm.data.row_vision_targets`, on every image or none) -> stage-V Examples."""
    bg = {b: i for i, b in enumerate(BACKGROUNDS)}
    counts = [int(t["count"]) for t in targets]
    if counts and max(counts) > max_count:
        raise AttnlabError(f"a scene has {max(counts)} subjects, more than max_count={max_count}")
    tgt = {"present": torch.tensor([list(map(bool, t["present"])) for t in targets], dtype=torch.bool).reshape(-1, N_TYPES),
           "count": torch.tensor(counts, dtype=torch.long),
           "background": torch.tensor([bg[t["background"]] for t in targets], dtype=torch.long),
           "ring": torch.tensor([bool(t["ring"]) for t in targets], dtype=torch.bool)}
    with_patch = {"patch" in t for t in targets}
    if len(with_patch) > 1:
        raise AttnlabError("stage-V targets: some images have per-patch targets and some do not")
    if with_patch == {True}:
        tgt["patch"] = torch.tensor([list(t["patch"]) for t in targets], dtype=torch.long)
    return Examples([], [], np.arange(len(images)), pixel_tensor(processor, images), tgt)


def stage_rows(df, stage: str) -> list[dict]:
    rows = df[(df["split"] == "train") & (df["stage"] == stage)] if "split" in df else df[df["stage"] == stage]
    if len(rows) == 0:
        raise AttnlabError(f"the data file has no training rows of stage {stage!r}")
    return rows.to_dict("records")


# --- which parameters each stage trains -----------------------------------------------------------
def run_dir_of(path: str) -> str:
    """A run directory given as itself or as its config.json (how the workflow declares it)."""
    p = Path(path)
    return str(p.parent) if p.name == "config.json" else str(p)


def freeze_for_stage(model: nn.Module, stage: str, align_trains_lm: bool = False) -> None:
    """requires_grad for the stage (module docstring): A the projector only (with `align_trains_lm`,
    projector + LM, as S), S projector + LM."""
    if stage in ("V", "T"):
        model.requires_grad_(True)
    elif stage == "A" and align_trains_lm:
        model.requires_grad_(True)
        model.vision_tower.requires_grad_(False)
    elif stage == "A":
        model.requires_grad_(False)
        model.multi_modal_projector.requires_grad_(True)
    elif stage == "S":
        model.requires_grad_(True)
        model.vision_tower.requires_grad_(False)
    else:
        raise AttnlabError(f"unknown VLM stage {stage!r}; choose from {', '.join(STAGES)}")


def assemble_vlm(tower: AttnViTModel, lm: AttnLMForCausalLM, image_token: int, seed: int, **vlm) -> AttnVLMForConditionalGeneration:
    """A fresh composite (projector initialised from `seed`) holding the stage-V tower and stage-T LM weights."""
    grid = tower.config.grid_size
    seed_everything(seed)
    cfg = AttnVLMConfig(vision_config=tower.config, text_config=lm.config, image_token_id=image_token,
                        image_seq_length=grid * grid, **vlm)
    model = AttnVLMForConditionalGeneration(cfg)
    model.vision_tower.load_state_dict(tower.state_dict())
    model.language_model.load_state_dict(lm.state_dict())
    return model


def train_members(models, batches, settings: TrainSettings, work_dirs: list[Path], run_key: str,
                  engine: str = "loop", desc: str = "vlm"):
    """Train the members as one stack (attnlab.train.stack); returns their log records. Only the
    loop engine: the vmap engine's stacked loss feeds input_ids and labels alone (no pixel_values
    or stage-V targets)."""
    if engine != "loop":
        raise AttnlabError(f"VLM stages train with the loop engine only (params.engine={engine!r})")
    return train_stack(models, batches, settings, work_dirs[0], engine=engine, log_dirs=work_dirs,
                       run_key=run_key, desc=desc)


# --- the step --------------------------------------------------------------------------------------
def main(args: StepArgs) -> None:
    p = args.params
    stage = p.get("stage")
    if stage not in STAGES:
        raise AttnlabError(f"params.stage must be one of {STAGES}, got {stage!r}")
    seeds = list(p.get("seeds", []))
    run_dirs = [Path(r) for r in args.outputs.get("run_dir", [])]
    if not seeds or len(seeds) != len(run_dirs):
        raise AttnlabError(f"params.seeds ({len(seeds)}) must name one seed per --output run_dir ({len(run_dirs)})")
    settings = TrainSettings.from_dict(p["train"])
    data_path = args.input("data")
    df = read_parquet(data_path)
    words = p.get("words")  # default: attnlab.vlm.data.VOCAB
    processor = None
    models, examples = [], None

    if stage == "V":
        from attnlab.vlm.data import row_vision_targets

        vc = AttnViTConfig(**p.get("vision", {}))
        processor = build_processor(words, image_size=vc.image_size, patch_size=vc.patch_size)
        rows = df[df["image"].notna()] if "split" not in df else df[(df["split"] == "train") & df["image"].notna()]
        rows = rows.drop_duplicates(subset="image")
        if len(rows) == 0:
            raise AttnlabError(f"{data_path}: no training images for stage V")
        targets = [row_vision_targets(r, vc.grid_size ** 2) for r in rows.itertuples()]
        examples = vision_examples(processor, list(rows["image"]), targets, p.get("max_count", 6))
        for s in seeds:
            seed_everything(s)
            models.append(VisionPretrainer(AttnViTModel(vc), p.get("max_count", 6), p.get("patch_weight", 1.0)))
    elif stage == "T":
        processor = build_processor(words)
        tc = AttnLMConfig(**{**p.get("text", {}), "vocab_size": len(processor.tokenizer),
                             "pad_token_id": PAD_ID, "bos_token_id": processor.tokenizer.bos_token_id,
                             "eos_token_id": EOS_ID})
        examples = text_examples(processor, stage_rows(df, "T"), 0, with_images=False, answer_only=False)
        for s in seeds:
            seed_everything(s)
            models.append(AttnLMForCausalLM(tc))
    else:
        from transformers import AutoProcessor

        if stage == "A":
            towers = [run_dir_of(x) for x in args.inputs.get("vision", [])]
            lms = [run_dir_of(x) for x in args.inputs.get("text", [])]
            if len(towers) != len(seeds) or len(lms) != len(seeds):
                raise AttnlabError(f"stage A needs one --input vision and one --input text per seed, got "
                                   f"{len(towers)} and {len(lms)} for {len(seeds)} seeds")
            processor = AutoProcessor.from_pretrained(lms[0])
            for s, v, t in zip(seeds, towers, lms):
                models.append(assemble_vlm(AttnViTModel.from_pretrained(v), AttnLMForCausalLM.from_pretrained(t),
                                           image_token_id(processor), s, **p.get("vlm", {})))
        else:
            inits = [run_dir_of(x) for x in args.inputs.get("init", [])]
            if len(inits) != len(seeds):
                raise AttnlabError(f"stage S needs one --input init per seed, got {len(inits)} for {len(seeds)} seeds")
            processor = AutoProcessor.from_pretrained(inits[0])
            models = [AttnVLMForConditionalGeneration.from_pretrained(i) for i in inits]
        n = models[0].config.image_seq_length
        examples = text_examples(processor, stage_rows(df, stage), n, with_images=True, answer_only=True)
        for m in models:
            freeze_for_stage(m, stage, bool(p.get("align_trains_lm", False)))

    batches = [StepBatches(examples, settings.batch_size, s) for s in seeds]
    works = [r / "checkpoints" for r in run_dirs]
    per_example = stage in ("A", "S") and bool(p.get("loss_per_example", False))
    fit = [PerExampleLoss(m) for m in models] if per_example else models
    stat = Path(data_path).stat()
    run_key = config_hash({"params": p, "data": [stat.st_size, stat.st_mtime_ns],
                           "inputs": {k: v for k, v in args.inputs.items() if k != "data"}})
    try:
        train_members(fit, batches, settings, works, run_key, p.get("engine", "loop"),
                      desc=f"vlm-{stage} x{len(seeds)}")
    except TrainingPreempted as e:  # checkpoint written: exit like the signal would, outputs absent
        print(f"attnlab: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    for model, run_dir, work in zip(models, run_dirs, works):
        with atomic_dir(run_dir) as tmp:
            shutil.copy(work / LOG, tmp / LOG)
            if stage == "V":
                from safetensors.torch import save_file

                model.tower.save_pretrained(tmp)
                save_file({k: v.contiguous() for k, v in model.heads.state_dict().items()}, str(tmp / HEADS_FILE),
                          metadata={"max_count": str(p.get("max_count", 6)), "types": str(N_TYPES),
                                    "patch_weight": str(p.get("patch_weight", 1.0))})
            else:
                model.save_pretrained(tmp)
            processor.save_pretrained(tmp)
    for work in works:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_step(main, description=__doc__)
