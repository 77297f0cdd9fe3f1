"""Train the tiny text-to-image model on captioned renders and save it in the Stable Diffusion layout.

DDPM epsilon-prediction loss (MSE), UNet and text encoder trained together with AdamW and a cosine
schedule after a short warm-up, caption dropout (the empty caption) so that classifier-free guidance
works, EMA weights saved. The output folder also holds train_log.jsonl and train_summary.json.

    python -m attnlab.diffusion.train --input data DATA.parquet --output model DIR --params JSON

params: {"model": {TinyT2IConfig keys}, "steps", "batch_size", "lr", "seed", and optionally
"caption_dropout" (0.1), "ema_decay" (0.995), "warmup" (50), "log_every" (50), "bf16" (false),
"snr_gamma" (null: plain MSE),
"words" (default: attnlab.world.caption.VOCAB plus any other caption word)}.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import TinyT2IConfig, build, n_parameters, save_pipeline
from attnlab.diffusion.tokenizer import encode
from attnlab.io import atomic_dir, read_parquet, write_jsonl_line
from attnlab.seeds import derive_seed
from attnlab.world.caption import VOCAB


def decode_images(df, size: int) -> torch.Tensor:
    """The `image` column (PNG bytes, or {"bytes": ...} dicts) as float pixels in [-1, 1], (N, 3, size, size)."""
    from PIL import Image

    if "image" not in df.columns or "caption" not in df.columns:
        raise AttnlabError(f"training data needs columns image, caption; got {list(df.columns)}")
    out = np.empty((len(df), size, size, 3), dtype=np.uint8)
    for i, item in enumerate(df["image"]):
        raw = item["bytes"] if isinstance(item, dict) else item
        img = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
        if img.shape[:2] != (size, size):
            raise AttnlabError(f"training image {i} is {img.shape[1]}x{img.shape[0]}, the model's image_size is {size}")
        out[i] = img
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 127.5 - 1


def vocabulary(captions, words: list[str] | None = None) -> list[str]:
    """Tokenizer words: `words` (default the world's VOCAB), then any other caption word, sorted."""
    if words is None:
        words = list(VOCAB)
    words = [w.lower() for w in words]
    known = set(words)
    extra = sorted({w for c in captions for w in str(c).lower().split()} - known)
    return words + extra


def train(df, cfg: TinyT2IConfig | dict, steps: int, batch_size: int, lr: float, seed: int,
          out_dir: str | Path | None, progress: bool = True, caption_dropout: float = 0.1,
          ema_decay: float = 0.995, warmup: int = 50, log_every: int = 50, bf16: bool = False,
          words: list[str] | None = None, snr_gamma: float | None = None) -> dict:
    """Train a fresh model on `df` (columns image = PNG bytes, caption) and save its EMA weights to
    `out_dir` (atomically, via attnlab.io.atomic_dir; None: do not save). Returns a summary dict
    (seconds per step, final loss, parameter counts) and, under "components", the trained EMA model.

    The loss is the MSE to the scheduler's target (the noise for prediction_type "epsilon"), per example
    weighted by min(SNR, snr_gamma) / SNR when `snr_gamma` is set (Min-SNR weighting, Hang et al. 2023)."""
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel, compute_snr
    from tqdm.auto import tqdm

    cfg = TinyT2IConfig.from_dict(cfg)
    if steps < 1 or batch_size < 1:
        raise AttnlabError(f"diffusion training needs steps >= 1 and batch_size >= 1 (got {steps}, {batch_size})")
    if len(df) == 0:
        raise AttnlabError("diffusion training data is empty")
    images = decode_images(df, cfg.image_size)
    captions = [str(c) for c in df["caption"]]
    comps = build(cfg, vocabulary(captions, words), seed=derive_seed(seed, "diffusion", "init"))
    unet, text_encoder, sched = comps["unet"], comps["text_encoder"], comps["scheduler"]
    tokens = encode(comps["tokenizer"], captions)
    empty = encode(comps["tokenizer"], [""])[0]
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    lr_sched = get_cosine_schedule_with_warmup(opt, min(warmup, steps // 4), steps)
    ema = EMAModel(params, decay=ema_decay, use_ema_warmup=False)
    gen = torch.Generator().manual_seed(derive_seed(seed, "diffusion", "batches"))
    unet.train(), text_encoder.train()

    log = []
    t0, c0 = time.perf_counter(), time.process_time()
    running, count = 0.0, 0
    bar = tqdm(range(1, steps + 1), desc="diffusion train", disable=not progress, mininterval=2.0)
    for step in bar:
        idx = torch.randint(len(images), (batch_size,), generator=gen)
        x0, ids = images[idx], tokens[idx].clone()
        drop = torch.rand(batch_size, generator=gen) < caption_dropout
        ids[drop] = empty
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(sched.config.num_train_timesteps, (batch_size,), generator=gen)
        xt = sched.add_noise(x0, noise, t)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = text_encoder(ids)[0]
            pred = unet(xt, t, encoder_hidden_states=emb).sample
        target = noise
        if sched.config.prediction_type == "v_prediction":
            target = sched.get_velocity(x0, noise, t)
        elif sched.config.prediction_type == "sample":
            target = x0
        loss = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))
        if snr_gamma:
            snr = compute_snr(sched, t)
            w = snr.clamp(max=snr_gamma) / snr
            if sched.config.prediction_type == "v_prediction":
                w = snr.clamp(max=snr_gamma) / (snr + 1)
            elif sched.config.prediction_type == "sample":
                w = snr.clamp(max=snr_gamma)
            loss = loss * w
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        lr_sched.step()
        ema.step(params)
        running, count = running + loss.item(), count + 1
        if step % log_every == 0 or step == steps:
            rec = {"step": step, "loss": running / count, "lr": lr_sched.get_last_lr()[0],
                   "wall_time_s": time.perf_counter() - t0}
            log.append(rec)
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
            running, count = 0.0, 0
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    ema.copy_to(params)
    unet.eval(), text_encoder.eval()
    summary = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "bf16": bf16, "snr_gamma": snr_gamma,
               "caption_dropout": caption_dropout, "ema_decay": ema_decay, "model": cfg.to_dict(),
               "train_examples": len(df), "seconds": elapsed, "seconds_per_step": elapsed / steps,
               "cpu_seconds_per_step": cpu / steps,
               "final_loss": log[-1]["loss"], "parameters": n_parameters(comps),
               "torch_threads": torch.get_num_threads()}
    if out_dir is not None:
        write_model_dir(comps, out_dir, log, summary)
    return {**summary, "components": comps}


def write_model_dir(comps: dict, out_dir: str | Path, log: list[dict], summary: dict) -> None:
    """Save the pipeline, train_log.jsonl and train_summary.json into `out_dir` atomically."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        save_pipeline(comps, tmp)
        with open(tmp / "train_log.jsonl", "w") as fh:
            for rec in log:
                write_jsonl_line(fh, rec)
        (tmp / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        for item in tmp.iterdir():  # a rerun replaces the previous model's subfolders
            old = out_dir / item.name
            if item.is_dir() and old.is_dir():
                shutil.rmtree(old)


def main(args: StepArgs) -> None:
    p = dict(args.params)
    missing = [k for k in ("steps", "batch_size", "lr", "seed") if k not in p]
    if missing:
        raise AttnlabError(f"diffusion train params miss {missing}")
    df = read_parquet(args.input("data"))
    opts = {k: p[k] for k in ("caption_dropout", "ema_decay", "warmup", "log_every", "bf16", "words", "snr_gamma")
            if k in p}
    summary = train(df, p.get("model", {}), steps=int(p["steps"]), batch_size=int(p["batch_size"]),
                    lr=float(p["lr"]), seed=int(p["seed"]), out_dir=args.output("model"),
                    progress=bool(p.get("progress", True)), **opts)
    print(f"trained {summary['steps']} steps in {summary['seconds']:.1f} s "
          f"({summary['seconds_per_step']:.3f} s/step), final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_step(main, description=__doc__)
