"""Train one OCR model full-batch (Adam or plain gradient descent) and save it as a run directory.

The run directory loads with `AutoModel.from_pretrained(run_dir)` after `import attnlab.models`.
"""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.io import atomic_dir, read_parquet, write_jsonl_line
from attnlab.ocr.model import OCRConfig, OCRTransformer
from attnlab.seeds import seed_everything

OPTIMIZERS = {"adam": torch.optim.Adam, "gd": torch.optim.SGD}


def tensors(df, split: str):
    part = df[df["split"] == split]
    x = torch.tensor(part[["subject", "relation"]].to_numpy(), dtype=torch.long)
    y = torch.tensor(part["answer"].to_numpy(), dtype=torch.long)
    return x, y


def build_model(vocab_size: int, run: dict, init_std: float, seed: int) -> OCRTransformer:
    seed_everything(seed)
    config = OCRConfig(vocab_size=vocab_size, head_dim=run["head_dim"],
                       parametrization=run["parametrization"], init_std=init_std)
    return OCRTransformer(config)


def train(model, x, y, *, optimizer: str, lr: float, steps: int, log_every: int, log=None,
          progress: bool = True) -> list[dict]:
    """Full-batch training on (x, y); returns the log records (also written to `log`)."""
    if optimizer not in OPTIMIZERS:
        raise AttnlabError(f"unknown optimizer {optimizer!r} (choose from {sorted(OPTIMIZERS)})")
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    records, t0 = [], time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=f"ocr {model.config.parametrization}", disable=not progress,
               mininterval=2.0)
    for step in bar:
        out = model(x, labels=y)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            acc = (out.logits.argmax(-1) == y).float().mean().item()
            rec = {"step": step, "loss": out.loss.item(), "train_acc": acc,
                   "wall_time_s": time.perf_counter() - t0}
            records.append(rec)
            bar.set_postfix(loss=f"{rec['loss']:.4f}", acc=f"{acc:.2f}")
            if log is not None:
                write_jsonl_line(log, rec)
    return records


def main(args: StepArgs) -> None:
    p = args.params
    df = read_parquet(args.input("data"))
    x, y = tensors(df, "train")
    model = build_model(p["vocab_size"], p["run"], p["init_std"], p["seed"])
    with atomic_dir(args.output("run_dir")) as tmp:
        with open(tmp / "train_log.jsonl", "w") as log:
            train(model, x, y, optimizer=p["run"]["optimizer"], lr=p["run"]["lr"],
                  steps=p["run"]["steps"], log_every=p["log_every"], log=log)
        model.save_pretrained(tmp)


if __name__ == "__main__":
    run_step(main, description=__doc__)
