"""Training-step throughput of the vision track's tiny text-to-image model against the CPU's matmul
peak, per speed option of attnlab.diffusion.train.TrainStep.

    python bench/diffusion_throughput.py                      # the config's vision block, 1 thread
    python bench/diffusion_throughput.py --compile            # also torch.compile (~1 min more)
    python bench/diffusion_throughput.py --config config/smoke.yaml --steps 5 --rounds 2

The model is built from `vision.model.architecture` and `vision.image_size` of the config (layered
over config/config.yaml like Snakemake's --configfile); batches come from the world's training set.
Each option runs the real training step (loss, backward, clipping, AdamW, schedule, EMA) on the same
batches; options are timed in turns (`--rounds` blocks of `--steps` steps each, after warm-up
steps), and the fp32 and bf16 matmul peaks are timed between the blocks, so every ratio compares
numbers taken under the same load. FLOPs per step are counted by torch's FlopCounterMode on the
fp32 forward + backward (convolutions and matmuls; the layout and precision options leave them
unchanged). The table prints the median over rounds:

    option | batch | ms/step | ms/image | GFLOP/step | GFLOP/s | % fp32 peak | images/s vs fp32

`images/s vs fp32` is each option's images per second over the fp32 option's at the config's batch
size. On a shared machine absolute numbers are noisy; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.diffusion.model import TinyT2IConfig, build  # noqa: E402
from attnlab.diffusion.tokenizer import encode  # noqa: E402
from attnlab.diffusion.train import TrainStep, decode_images, vocabulary  # noqa: E402
from attnlab.world.dataset import training_set  # noqa: E402


def vision_block(config: str) -> dict:
    """The vision block of config/config.yaml with `config` layered over it (dicts merge)."""

    def merge(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: merge(a[k], b[k]) if k in a and k in b else (b[k] if k in b else a[k]) for k in {*a, *b}}
        return b

    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    over = yaml.safe_load(Path(config).read_text()) if config else {}
    return merge(base, over or {})["vision"]


def matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 5) -> float:
    """GFLOP/s of an n x n x n matmul in `dtype` (best of `reps`): the peak a step is measured against."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def options(batch: int, compile: bool) -> dict[str, dict]:
    """Option name -> TrainStep keywords, plus `batch` and `model` overrides."""
    out = {
        "fp32": {},
        "bf16 autocast": {"bf16": True},
        "channels_last": {"channels_last": True},
        "bf16 + channels_last": {"bf16": True, "channels_last": True},
        f"fp32, batch {2 * batch}": {"batch": 2 * batch},
        f"fp32, batch {4 * batch}": {"batch": 4 * batch},
        f"bf16, batch {4 * batch}": {"bf16": True, "batch": 4 * batch},
        "fp32, 1 text layer": {"model": {"text_layers": 1}},
    }
    if compile:
        out["torch.compile"] = {"compile": True}
        out["torch.compile + bf16"] = {"compile": True, "bf16": True}
    return out


class Case:
    """One option: its model, TrainStep and batches (the same data for every option)."""

    def __init__(self, name: str, opt: dict, arch: dict, batch: int, data, steps: int):
        opt = dict(opt)
        self.name, self.batch = name, opt.pop("batch", batch)
        self.arch = {**arch, **opt.pop("model", {})}
        comps = build(self.arch, vocabulary(data.caption), seed=0)
        images = decode_images(data, TinyT2IConfig.from_dict(self.arch).image_size)
        tokens = encode(comps["tokenizer"], list(data.caption))
        gen = torch.Generator().manual_seed(0)
        self.batches = []
        for _ in range(steps):
            idx = torch.randint(len(images), (self.batch,), generator=gen)
            self.batches.append((images[idx], tokens[idx], torch.randn(images[idx].shape, generator=gen),
                                 torch.randint(1000, (self.batch,), generator=gen)))
        self.step = TrainStep(comps, lr=1e-3, steps=10_000, snr_gamma=5.0, **opt)
        self.flops = step_flops(comps, self.batches[0])
        self.ms: list[float] = []
        self.first_s = None

    def warm(self, n: int) -> None:
        t0 = time.perf_counter()
        self.step(*self.batches[0])
        self.first_s = time.perf_counter() - t0
        for k in range(1, n):
            self.step(*self.batches[k % len(self.batches)])

    def run(self) -> None:
        t0 = time.perf_counter()
        for b in self.batches:
            self.step(*b)
        self.ms.append(1e3 * (time.perf_counter() - t0) / len(self.batches))


def step_flops(comps: dict, batch) -> float:
    """FLOPs of one fp32 forward + backward of text encoder and UNet on `batch`."""
    from torch.utils.flop_counter import FlopCounterMode

    x0, ids, noise, t = batch
    with FlopCounterMode(display=False) as fc:
        emb = comps["text_encoder"](ids)[0]
        comps["unet"](x0 + noise, t, encoder_hidden_states=emb).sample.pow(2).mean().backward()
    for p in [*comps["unet"].parameters(), *comps["text_encoder"].parameters()]:
        p.grad = None
    return float(fc.get_total_flops())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="", help="a config layered over config/config.yaml (its vision block)")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per option per round")
    ap.add_argument("--rounds", type=int, default=3, help="timed blocks per option, taken in turns")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per option first")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (one per job in the workflow)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (first step reported)")
    ap.add_argument("--only", default="", help="comma-separated option names to run (default: all)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    vision = vision_block(args.config)
    arch = {**vision["model"]["architecture"], "image_size": vision["image_size"]}
    batch = int(vision["model"]["batch_size"])
    data = training_set(256, 0, vision["image_size"])
    chosen = options(batch, args.compile)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        chosen = {k: v for k, v in chosen.items() if k in keep}
    cases = [Case(name, opt, arch, batch, data, args.steps) for name, opt in chosen.items()]
    for c in cases:
        c.warm(args.warmup)
    peaks = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for c in cases:
            peaks["fp32"].append(matmul_gflops(torch.float32))
            peaks["bf16"].append(matmul_gflops(torch.bfloat16))
            c.run()
    p32, p16 = statistics.median(peaks["fp32"]), statistics.median(peaks["bf16"])

    base = next((c for c in cases if c.name == "fp32"), cases[0])
    base_ips = base.batch / statistics.median(base.ms)
    print(f"tiny UNet {arch.get('block_out_channels')} at {vision['image_size']}px, text "
          f"{arch.get('text_layers')}x{arch.get('text_width')} (max_length {arch.get('max_length')}); "
          f"{args.threads} thread(s), median of {args.rounds} rounds x {args.steps} steps")
    print(f"matmul peak (1024^3, same run): fp32 {p32:.0f} GFLOP/s, bf16 {p16:.0f} GFLOP/s\n")
    rows = [("option", "batch", "ms/step", "ms/image", "GFLOP/step", "GFLOP/s", "% fp32 peak", "images/s vs fp32")]
    for c in cases:
        ms = statistics.median(c.ms)
        gflops = c.flops / 1e9
        rows.append((c.name, str(c.batch), f"{ms:.0f}", f"{ms / c.batch:.1f}", f"{gflops:.2f}",
                     f"{gflops / ms * 1e3:.1f}", f"{100 * gflops / ms * 1e3 / p32:.0f}%",
                     f"{c.batch / ms / base_ips:.2f}x"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print(" | ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("-+-".join("-" * w for w in widths))
    compiled = [c for c in cases if "compile" in c.name]
    for c in compiled:
        print(f"\n{c.name}: first step {c.first_s:.1f} s (compilation), then the steady state above")


if __name__ == "__main__":
    main()
