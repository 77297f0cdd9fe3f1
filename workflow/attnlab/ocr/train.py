"""Train OCR models full-batch (Adam or plain gradient descent) and save each as a run directory.

    python -m attnlab.ocr.train --input data D --output run_dir R --params JSON
        params: {"run", "vocab_size", "init_std", "log_every", "seed"}: one model
    python -m attnlab.ocr.train --input data D1 D2 ... --output run_dir R1 R2 ... --params JSON
        params: the same with "members": [{"seed": int}, ...] instead of "seed": every seed of one
        configuration in one process (a stack), member i on data D_i writing R_i

The models are tiny (a few V×V matrices) and a job is mostly process start, so the seeds of one
configuration train as one stack: one process, one optimizer step per step over all members (Adam
and SGD are elementwise, each member keeps its own moments), each member's own data and loss —
exactly what training it alone computes (tests/unit/test_ocr_model.py). A run directory loads
with `AutoModel.from_pretrained(run_dir)` after `import attnlab.models`.
"""

from __future__ import annotations

import contextlib
import time

import torch
from tqdm.auto import tqdm

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.io import atomic_dir, read_parquet, write_jsonl_line
from attnlab.ocr.model import OCRConfig, OCRTransformer, tensors
from attnlab.seeds import seed_everything

OPTIMIZERS = {"adam": torch.optim.Adam, "gd": torch.optim.SGD}


def build_model(vocab_size: int, run: dict, init_std: float, seed: int) -> OCRTransformer:
    seed_everything(seed)
    config = OCRConfig(vocab_size=vocab_size, head_dim=run["head_dim"],
                       parametrization=run["parametrization"], init_std=init_std)
    return OCRTransformer(config)


def train_stacked(models, data: list[tuple[torch.Tensor, torch.Tensor]], *, optimizer: str, lr: float, steps: int,
                  log_every: int, logs=None, progress: bool = True) -> list[list[dict]]:
    """Full-batch training of member i on `data[i]` = (x, y), all members side by side; returns each
    member's log records (also written to `logs[i]`)."""
    if optimizer not in OPTIMIZERS:
        raise AttnlabError(f"unknown optimizer {optimizer!r} (choose from {sorted(OPTIMIZERS)})")
    if len(data) != len(models):
        raise AttnlabError(f"an OCR stack needs one data set per member: {len(models)} models, {len(data)} sets")
    # one parameter group per member: the update of a parameter reads only its own gradient and state
    opt = OPTIMIZERS[optimizer]([{"params": list(m.parameters())} for m in models], lr=lr)
    records, t0 = [[] for _ in models], time.perf_counter()
    desc = f"ocr {models[0].config.parametrization}" + (f" x{len(models)}" if len(models) > 1 else "")
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress, mininterval=2.0)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        outs = []
        for m, (x, y) in zip(models, data):
            out = m(x, labels=y)
            out.loss.backward()
            outs.append(out)
        opt.step()
        if step % log_every == 0 or step == steps:
            wall = time.perf_counter() - t0
            for i, (out, (_, y)) in enumerate(zip(outs, data)):
                acc = (out.logits.argmax(-1) == y).float().mean().item()
                rec = {"step": step, "loss": out.loss.item(), "train_acc": acc, "wall_time_s": wall}
                records[i].append(rec)
                if logs is not None:
                    write_jsonl_line(logs[i], rec)
            bar.set_postfix(loss=f"{sum(r[-1]['loss'] for r in records) / len(models):.4f}",
                            acc=f"{sum(r[-1]['train_acc'] for r in records) / len(models):.2f}")
    return records


def train(model, x, y, *, optimizer: str, lr: float, steps: int, log_every: int, log=None,
          progress: bool = True) -> list[dict]:
    """Full-batch training of one model on (x, y) (a stack of one); returns the log records
    (also written to `log`)."""
    return train_stacked([model], [(x, y)], optimizer=optimizer, lr=lr, steps=steps, log_every=log_every,
                         logs=None if log is None else [log], progress=progress)[0]


def main(args: StepArgs) -> None:
    p = args.params
    seeds = [int(m["seed"]) for m in p["members"]] if "members" in p else [p["seed"]]
    datas, run_dirs = args.inputs.get("data", []), args.outputs.get("run_dir", [])
    if len(datas) != len(seeds) or len(run_dirs) != len(seeds):
        raise AttnlabError(f"ocr train: {len(datas)} data files and {len(run_dirs)} run dirs for "
                           f"{len(seeds)} seeds (one each)")
    data = [tensors(read_parquet(d), "train") for d in datas]
    models = [build_model(p["vocab_size"], p["run"], p["init_std"], s) for s in seeds]
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_dir(r)) for r in run_dirs]
        logs = [stack.enter_context(open(t / "train_log.jsonl", "w")) for t in tmps]
        train_stacked(models, data, optimizer=p["run"]["optimizer"], lr=p["run"]["lr"],
                      steps=p["run"]["steps"], log_every=p["log_every"], logs=logs)
        for m, t in zip(models, tmps):
            m.save_pretrained(t)


if __name__ == "__main__":
    run_step(main, description=__doc__)
