"""One seed of alt_attention's two non-LM blocks: GAAM's classification heads on the
(non-)stationary burst task and LightNet's grid task, each variant trained with Adam and scored on
fresh test data of the same seed.

GAAM heads on the raw features (the paper's frozen encoder replaced by the features themselves):
  gaam       attnlab.attention.gaam.gaussian_pool (heads x F/heads features, G Gaussians) + linear;
  attention  dot-product attention pooling: per head a learned query against W_k x, softmax over
             time, values x + linear;
  mean       mean over time + linear.
LightNet grid model (1 block, pre-LayerNorm, attention + MLP): symbol + learned row + learned column
embeddings; every layer sees the whole grid (an all-ones structure mask), so a scan reads what its
own order allows:
  decay1 / decay2 / decay4   multiplicative decay, 1 / 2 / 4 scans (attnlab.attention.decay);
  lightnet1                  LightNet, one scan (attnlab.attention.lightnet);
  softmax                    noncausal softmax attention (the reference).
"""

from __future__ import annotations

import math
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from attnlab.alt_attention.data import grid, nonstationary
from attnlab.attention import build_attention
from attnlab.attention.base import AttentionContext
from attnlab.attention.gaam import GaussianParameters, gaussian_pool
from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.lm.configuration import AttnLMConfig
from attnlab.seeds import derive_seed

GAAM_HEADS = ("gaam", "attention", "mean")
GRID_VARIANTS = {"decay1": ("decay", {"scans": 1}), "decay2": ("decay", {"scans": 2}),
                 "decay4": ("decay", {"scans": 4}), "lightnet1": ("lightnet", {}), "softmax": ("softmax", {})}


class PoolClassifier(nn.Module):
    def __init__(self, head: str, features: int, heads: int, gaussians: int, classes: int):
        super().__init__()
        self.head, self.heads = head, heads
        if head == "gaam":
            self.gauss = GaussianParameters(heads, gaussians)
        elif head == "attention":
            self.query = nn.Parameter(torch.randn(heads, features // heads) * 0.1)
            self.key = nn.Linear(features, features)
        self.out = nn.Linear(features, classes)

    def forward(self, x):  # (B, T, F)
        B, T, Fd = x.shape
        if self.head == "gaam":
            pooled = gaussian_pool(x, self.heads, self.gauss.offsets, self.gauss.c)
        elif self.head == "attention":
            k = self.key(x).view(B, T, self.heads, -1)
            w = torch.softmax(torch.einsum("bthd,hd->bht", k, self.query) / math.sqrt(k.shape[-1]), -1)
            pooled = torch.einsum("bht,bthd->bhd", w, x.view(B, T, self.heads, -1)).reshape(B, Fd)
        else:
            pooled = x.mean(1)
        return self.out(pooled)


class GridModel(nn.Module):
    def __init__(self, attention: str, options: dict, height: int, width: int, symbols: int, d: int, heads: int):
        super().__init__()
        opts = dict(options)
        if opts.get("scans") == 4:
            opts["grid_width"] = width
        cfg = AttnLMConfig(vocab_size=symbols, n_embd=d, n_head=heads, n_layer=1, attention=attention,
                           attention_options=opts)
        self.width = width
        self.sym, self.row, self.col = nn.Embedding(symbols, d), nn.Embedding(height, d), nn.Embedding(width, d)
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = build_attention(cfg, 0)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.head = nn.Linear(d, symbols + 1)

    def forward(self, cells):  # (B, H·W)
        B, T = cells.shape
        pos = torch.arange(T)
        x = self.sym(cells) + self.row(pos // self.width) + self.col(pos % self.width)
        ctx = AttentionContext(position_ids=pos.expand(B, T), structure_mask=torch.ones(1, T, T, dtype=torch.bool))
        x = x + self.attn(self.ln1(x), ctx)[0]
        x = x + self.mlp(self.ln2(x))
        return self.head(self.lnf(x))


def train(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, steps: int, batch: int, lr: float, seed: int,
          loss_fn) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(X), (batch,), generator=gen)
        loss = loss_fn(model(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, batch: int = 250) -> float:
    correct = sum(int((model(X[i:i + batch]).argmax(-1) == Y[i:i + batch]).sum()) for i in range(0, len(X), batch))
    return correct / Y.numel()


def run_gaam(p: dict, base: int, seed_index: int, heads=GAAM_HEADS) -> list[dict]:
    g, rows = p["gaam"], []
    for split in ("nonstationary", "stationary"):
        data = {part: nonstationary(g[f"n_{part}"], derive_seed(base, "alt_attention", "gaam", split, part, seed_index),
                                    stationary=split == "stationary", T=g["T"], F=g["F"], groups=g["groups"])
                for part in ("train", "test")}
        (Xtr, ytr), (Xte, yte) = ((torch.from_numpy(a), torch.from_numpy(b)) for a, b in (data["train"], data["test"]))
        for head in heads:
            torch.manual_seed(derive_seed(base, "alt_attention", "gaam", head, seed_index))
            model = PoolClassifier(head, g["F"], g["heads"], g["gaussians"], g["groups"])
            t0 = time.process_time()
            train(model, Xtr, ytr, g["steps"], g["batch_size"], g["lr"],
                  derive_seed(base, "alt_attention", "gaam", "batches", seed_index), F.cross_entropy)
            rows.append({"block": "gaam", "variant": head, "split": split, "seed_index": seed_index,
                         "acc": accuracy(model, Xte, yte), "cpu_s": time.process_time() - t0})
    return rows


def run_grid(p: dict, base: int, seed_index: int) -> list[dict]:
    g, rows = p["lightnet"], []
    data = {part: grid(g[f"n_{part}"], derive_seed(base, "alt_attention", "grid", part, seed_index), g["height"],
                       g["width"], g["symbols"]) for part in ("train", "test")}
    (Xtr, ytr), (Xte, yte) = ((torch.from_numpy(a), torch.from_numpy(b)) for a, b in (data["train"], data["test"]))

    def loss_fn(logits, y):
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    for variant in g["variants"]:
        attention, options = GRID_VARIANTS[variant]
        torch.manual_seed(derive_seed(base, "alt_attention", "grid", variant, seed_index))
        model = GridModel(attention, options, g["height"], g["width"], g["symbols"], g["d_model"], g["heads"])
        t0 = time.process_time()
        train(model, Xtr, ytr, g["steps"], g["batch_size"], g["lr"],
              derive_seed(base, "alt_attention", "grid", "batches", seed_index), loss_fn)
        rows.append({"block": "lightnet", "variant": variant, "split": "grid", "seed_index": seed_index,
                     "acc": accuracy(model, Xte, yte), "cpu_s": time.process_time() - t0})
    return rows


def main(args: StepArgs) -> None:
    p = args.params
    torch.set_num_threads(1)
    rows = run_gaam(p, p["base_seed"], p["seed_index"]) + run_grid(p, p["base_seed"], p["seed_index"])
    for r in rows:
        print(f"{r['block']} {r['variant']} {r['split']}: acc {r['acc']:.3f} ({r['cpu_s']:.1f} CPU s)", flush=True)
    write_parquet(args.output("toys"), pd.DataFrame(rows))


if __name__ == "__main__":
    run_step(main, description=__doc__)
