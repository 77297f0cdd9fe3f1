"""Train one in-context regression model: Adam with cosine decay, a fresh batch every step."""

from __future__ import annotations

import time

import numpy as np
import torch

from attnlab.cli import StepArgs, run_step
from attnlab.icl_regression.model import ICLAttention, prompt_tensors
from attnlab.icl_regression.synth import sample_prompts
from attnlab.io import atomic_dir, write_jsonl_line


def build_model(d: int, run: dict, train_length: int, seed: int) -> ICLAttention:
    torch.manual_seed(seed)
    return ICLAttention(d, run["heads"], run["mechanism"], train_length)


def train(model: ICLAttention, *, steps: int, batch_size: int, lr: float, noise_var: float,
          seed: int, log_every: int, log=None) -> list[dict]:
    d, L = model.config["d"], model.config["train_length"]
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    records, t0, running = [], time.perf_counter(), 0.0
    for step in range(1, steps + 1):
        x, y, _ = sample_prompts(rng, batch_size, L, d, noise_var, np.float32)  # float32: training
        z, zq, yq = prompt_tensors(x, y)
        loss = ((model(z, zq) - yq) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        running += loss.item()
        if step % log_every == 0 or step == steps:
            n = log_every if step % log_every == 0 else step % log_every
            rec = {"step": step, "loss": running / n, "lr": schedule.get_last_lr()[0],
                   "wall_time_s": time.perf_counter() - t0}
            running = 0.0
            records.append(rec)
            if log is not None:
                write_jsonl_line(log, rec)
    return records


def main(args: StepArgs) -> None:
    p = args.params
    model = build_model(p["d"], p["run"], p["train_length"], p["seed"])
    with atomic_dir(args.output("run_dir")) as tmp:
        with open(tmp / "train_log.jsonl", "w") as log:
            train(model, steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                  noise_var=p["noise_var"], seed=p["seed"], log_every=p["log_every"], log=log)
        model.save_run(tmp)


if __name__ == "__main__":
    run_step(main, description=__doc__)
