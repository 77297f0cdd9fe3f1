"""Train the tiny text-to-image model on captioned renders and save it in the Stable Diffusion layout.

DDPM epsilon-prediction loss (MSE), UNet and text encoder trained together with AdamW and a cosine
schedule after a short warm-up, caption dropout (the empty caption) so that classifier-free guidance
works, EMA weights saved. The output folder also holds train_log.jsonl and train_summary.json.

    python -m attnlab.diffusion.train --input data DATA.parquet --output model DIR --params JSON

params: {"model": {TinyT2IConfig keys}, "steps", "batch_size", "lr", "seed", and optionally
"caption_dropout" (0.1), "ema_decay" (0.995), "warmup" (50), "log_every" (50), "snr_gamma" (null:
plain MSE), the speed options "bf16", "channels_last", "compile" (all false; see TrainStep),
"device" ("auto": CUDA when a GPU is visible, else the CPU; the step holds the `gpu` resource, so
attnlab.gpuslots makes its GPUs visible), "words" (default: attnlab.world.caption.VOCAB plus any other
caption word)}. Batches, noise and timesteps are drawn on the CPU from the seed whatever the device,
so a GPU run trains on the same examples (its arithmetic, not its data, differs from a CPU run's).
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
from attnlab.diffusion.model import (
    TinyT2IConfig,
    build,
    n_parameters,
    prediction_target,
    resolve_device,
    save_pipeline,
    unet_input,
)
from attnlab.diffusion.tokenizer import PAD_ID, encode
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


class TrainStep:
    """One optimisation step of the model, the training loop's body (also timed by
    bench/diffusion_throughput.py): the loss (see `train`), backward, gradient clipping at 1, AdamW,
    the cosine schedule and the EMA update of UNet and text encoder together.

    Speed options, none of which changes the loss being optimised:
    - `bf16`: bf16 autocast for the forward pass on the model's device (the CPU's avx512_bf16 / AMX
      kernels, or the GPU's); the loss in fp32;
    - `channels_last`: the UNet's convolutions in NHWC memory layout (oneDNN's native one);
      `finish` puts the weights back in the default layout before saving;
    - `compile`: torch.compile of the UNet's forward (costs tens of seconds on the first step, so
      it pays only on long runs)."""

    def __init__(self, comps: dict, *, lr: float, steps: int, warmup: int = 50, ema_decay: float = 0.995,
                 snr_gamma: float | None = None, bf16: bool = False, channels_last: bool = False,
                 compile: bool = False, train_text_encoder: bool = True):
        from diffusers.optimization import get_cosine_schedule_with_warmup
        from diffusers.training_utils import EMAModel

        self.comps = comps
        self.unet, self.text_encoder, self.sched = comps["unet"], comps["text_encoder"], comps["scheduler"]
        self.device_type = next(self.unet.parameters()).device.type
        self.mask_padding = bool(comps.get("mask_padding"))
        self.snr_gamma, self.bf16, self.channels_last = snr_gamma, bf16, channels_last
        if channels_last:
            self.unet.to(memory_format=torch.channels_last)
        self.forward = torch.compile(self.unet) if compile else self.unet
        # train_text_encoder False: the text encoder keeps its initial (random) weights, as Stable Diffusion
        # keeps its pretrained CLIP frozen: every word stays as distinct as at initialisation
        self.params = list(self.unet.parameters()) + (list(self.text_encoder.parameters()) if train_text_encoder else [])
        self.text_encoder.requires_grad_(train_text_encoder)
        self.opt = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.0)
        self.lr_sched = get_cosine_schedule_with_warmup(self.opt, min(warmup, steps // 4), steps)
        self.ema = EMAModel(self.params, decay=ema_decay, use_ema_warmup=False)
        self.unet.train(), self.text_encoder.train()

    def loss(self, x0: torch.Tensor, ids: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        from diffusers.training_utils import compute_snr

        sched = self.sched
        xt = unet_input(self.comps, sched.add_noise(x0, noise, t))
        if self.channels_last:
            xt = xt.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            emb = self.text_encoder(ids)[0]
            kw = {"encoder_attention_mask": (ids != PAD_ID).long()} if self.mask_padding else {}
            pred = self.forward(xt, t, encoder_hidden_states=emb, **kw).sample
        loss = (pred.float() - prediction_target(sched, x0, noise, t)).pow(2).mean(dim=(1, 2, 3))
        if self.snr_gamma:
            snr = compute_snr(sched, t)
            w = snr.clamp(max=self.snr_gamma) / snr
            if sched.config.prediction_type == "v_prediction":
                w = snr.clamp(max=self.snr_gamma) / (snr + 1)
            elif sched.config.prediction_type == "sample":
                w = snr.clamp(max=self.snr_gamma)
            loss = loss * w
        return loss.mean()

    def __call__(self, x0: torch.Tensor, ids: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> float:
        """One step on the batch (clean images x0, token ids, noise, timesteps); returns the loss."""
        loss = self.loss(x0, ids, noise, t)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.lr_sched.step()
        self.ema.step(self.params)
        return loss.item()

    def last_lr(self) -> float:
        return self.lr_sched.get_last_lr()[0]

    def with_ema(self, fn, *args):
        """fn(*args) with the EMA weights in the model, in eval mode (what `finish` would save); the training
        weights and mode are put back afterwards, so training goes on as if nothing had happened."""
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        self.unet.eval(), self.text_encoder.eval()
        try:
            return fn(*args)
        finally:
            self.ema.restore(self.params)
            self.unet.train(), self.text_encoder.train()

    def finish(self) -> None:
        """EMA weights into the model, in the default memory layout, on the CPU, in eval mode."""
        self.ema.copy_to(self.params)
        if self.channels_last:
            self.unet.to(memory_format=torch.contiguous_format)
        self.unet.to("cpu"), self.text_encoder.to("cpu")
        self.unet.eval(), self.text_encoder.eval()


def train(df, cfg: TinyT2IConfig | dict, steps: int, batch_size: int, lr: float, seed: int,
          out_dir: str | Path | None, progress: bool = True, caption_dropout: float = 0.1,
          ema_decay: float = 0.995, warmup: int = 50, log_every: int = 50, bf16: bool = False,
          words: list[str] | None = None, snr_gamma: float | None = None, channels_last: bool = False,
          compile: bool = False, device: str = "auto", evaluate=None, evaluate_every: int = 0,
          train_text_encoder: bool = True) -> dict:
    """Train a fresh model on `df` (columns image = PNG bytes, caption) and save its EMA weights to
    `out_dir` (atomically, via attnlab.io.atomic_dir; None: do not save). Returns a summary dict
    (seconds per step, final loss, parameter counts) and, under "components", the trained EMA model.

    The loss is the MSE to the scheduler's target (the noise for prediction_type "epsilon"), per example
    weighted by min(SNR, snr_gamma) / SNR when `snr_gamma` is set (Min-SNR weighting, Hang et al. 2023).
    `bf16`, `channels_last` and `compile` only change the speed (TrainStep). `device`: "auto" (CUDA when
    a GPU is visible), "cpu" or "cuda[:i]"; the saved and returned model is on the CPU.
    `evaluate(step, components)`, when given, is called every `evaluate_every` steps with the EMA weights
    in the model (a learning curve, bench/calibrate_vision.py --every); it does not change the training."""
    from tqdm.auto import tqdm

    cfg = TinyT2IConfig.from_dict(cfg)
    if steps < 1 or batch_size < 1:
        raise AttnlabError(f"diffusion training needs steps >= 1 and batch_size >= 1 (got {steps}, {batch_size})")
    if len(df) == 0:
        raise AttnlabError("diffusion training data is empty")
    images = decode_images(df, cfg.image_size)
    if cfg.patch > 1:  # the UNet's sample space: patches folded into channels (lossless)
        images = torch.nn.functional.pixel_unshuffle(images, cfg.patch)
    captions = [str(c) for c in df["caption"]]
    comps = build(cfg, vocabulary(captions, words), seed=derive_seed(seed, "diffusion", "init"))
    dev = resolve_device(device)
    comps["unet"].to(dev), comps["text_encoder"].to(dev)
    sched = comps["scheduler"]
    tokens = encode(comps["tokenizer"], captions)
    empty = encode(comps["tokenizer"], [""])[0]
    step_fn = TrainStep(comps, lr=lr, steps=steps, warmup=warmup, ema_decay=ema_decay, snr_gamma=snr_gamma,
                        bf16=bf16, channels_last=channels_last, compile=compile, train_text_encoder=train_text_encoder)
    gen = torch.Generator().manual_seed(derive_seed(seed, "diffusion", "batches"))

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
        running, count = running + step_fn(*(a.to(dev) for a in (x0, ids, noise, t))), count + 1
        if step % log_every == 0 or step == steps:
            rec = {"step": step, "loss": running / count, "lr": step_fn.last_lr(),
                   "wall_time_s": time.perf_counter() - t0}
            log.append(rec)
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
            running, count = 0.0, 0
        if evaluate is not None and evaluate_every and step % evaluate_every == 0 and step < steps:
            e0, ec0 = time.perf_counter(), time.process_time()
            step_fn.with_ema(evaluate, step, comps)
            t0, c0 = t0 + time.perf_counter() - e0, c0 + time.process_time() - ec0  # timings: training only
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    step_fn.finish()
    summary = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "bf16": bf16, "snr_gamma": snr_gamma,
               "caption_dropout": caption_dropout, "ema_decay": ema_decay, "model": cfg.to_dict(),
               "train_examples": len(df), "seconds": elapsed, "seconds_per_step": elapsed / steps,
               "cpu_seconds_per_step": cpu / steps,
               "final_loss": log[-1]["loss"], "parameters": n_parameters(comps),
               "torch_threads": torch.get_num_threads(), "device": str(dev)}
    if channels_last or compile:
        summary.update(channels_last=channels_last, compile=compile)
    if not train_text_encoder:
        summary["train_text_encoder"] = False
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
    opts = {k: p[k] for k in ("caption_dropout", "ema_decay", "warmup", "log_every", "bf16", "words", "snr_gamma",
                              "channels_last", "compile", "device", "train_text_encoder") if k in p}
    summary = train(df, p.get("model", {}), steps=int(p["steps"]), batch_size=int(p["batch_size"]),
                    lr=float(p["lr"]), seed=int(p["seed"]), out_dir=args.output("model"),
                    progress=bool(p.get("progress", True)), **opts)
    print(f"trained {summary['steps']} steps in {summary['seconds']:.1f} s "
          f"({summary['seconds_per_step']:.3f} s/step), final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_step(main, description=__doc__)
