"""Train in-context regression models: Adam with cosine decay, a fresh batch every step.

All seeds of one (d, mechanism) train together as one stack of parameters (leading dimension =
seed): each seed keeps its own initialisation, its own data stream and — Adam being elementwise
and the loss a sum of per-seed losses — its own optimisation, as if trained alone; one process
and one optimiser step per step instead of one per seed (the per-step overhead dominates at
mini scale)."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
from torch import nn

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.icl_regression.model import ICLAttention, ICLConfig, kq_matrix, ov_vector, predict, prompt_tensors
from attnlab.icl_regression.synth import sample_prompts
from attnlab.io import atomic_dir, write_jsonl_line

PARAMS = ("w_q", "w_k", "w_v", "w_o")


def build_model(d: int, run: dict, train_length: int, seed: int) -> ICLAttention:
    config = ICLConfig(d=d, heads=run["heads"], mechanism=run["mechanism"], train_length=train_length)
    torch.manual_seed(seed)
    return ICLAttention(config)


def train_stacked(models: list[ICLAttention], *, steps: int, batch_size: int, lr: float, noise_var: float,
                  seeds: list[int], log_every: int, logs=None, on_log=None) -> list[list[dict]]:
    """Train `models` (same config) side by side; model i draws its prompts from seed i. Writes
    the trained weights back into the models; returns each model's log records. `on_log(step,
    stack)`, if given, is called at every log point with the stacked parameters (calibration)."""
    shape = lambda c: (c.d, c.heads, c.mechanism, c.train_length)  # noqa: E731
    if any(shape(m.config) != shape(models[0].config) for m in models) or len(seeds) != len(models):
        raise AttnlabError("a training stack needs models of one config and one seed per model")
    d, _, mech, L = shape(models[0].config)
    stack = nn.ParameterDict({k: nn.Parameter(torch.stack([getattr(m, k).detach() for m in models]))
                              for k in PARAMS})
    rngs = [np.random.default_rng(s) for s in seeds]
    opt = torch.optim.Adam(stack.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    records = [[] for _ in models]
    t0, running = time.perf_counter(), torch.zeros(len(models))
    for step in range(1, steps + 1):
        batches = [prompt_tensors(*sample_prompts(rng, batch_size, L, d, noise_var, np.float32)[:2])
                   for rng in rngs]  # float32: training
        z, zq, yq = (torch.stack(t) for t in zip(*batches))
        pred = predict(kq_matrix(stack["w_q"], stack["w_k"]), ov_vector(stack["w_o"], stack["w_v"]),
                       z, zq, mech, L)
        per_seed = ((pred - yq) ** 2).mean(-1)
        opt.zero_grad(set_to_none=True)
        per_seed.sum().backward()
        opt.step()
        schedule.step()
        running += per_seed.detach()
        if step % log_every == 0 or step == steps:
            n = log_every if step % log_every == 0 else step % log_every
            for i, loss in enumerate((running / n).tolist()):
                rec = {"step": step, "loss": loss, "lr": schedule.get_last_lr()[0],
                       "wall_time_s": time.perf_counter() - t0}
                records[i].append(rec)
                if logs is not None:
                    write_jsonl_line(logs[i], rec)
            running.zero_()
            if on_log is not None:
                on_log(step, stack)
    with torch.no_grad():
        for i, m in enumerate(models):
            for k in PARAMS:
                getattr(m, k).copy_(stack[k][i])
    return records


def train(model: ICLAttention, *, steps: int, batch_size: int, lr: float, noise_var: float,
          seed: int, log_every: int, log=None) -> list[dict]:
    """Train one model (a stack of one)."""
    return train_stacked([model], steps=steps, batch_size=batch_size, lr=lr, noise_var=noise_var,
                         seeds=[seed], log_every=log_every, logs=None if log is None else [log])[0]


def main(args: StepArgs) -> None:
    p = args.params
    run_dirs, seeds = args.outputs.get("run_dir", []), list(p["seeds"])
    if len(run_dirs) != len(seeds):
        raise AttnlabError(f"icl_regression train: {len(run_dirs)} run dirs for {len(seeds)} seeds")
    models = [build_model(p["d"], p["run"], p["train_length"], s) for s in seeds]
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_dir(r)) for r in run_dirs]
        logs = [stack.enter_context(open(t / "train_log.jsonl", "w")) for t in tmps]
        train_stacked(models, steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                      noise_var=p["noise_var"], seeds=seeds, log_every=p["log_every"], logs=logs)
        for m, t in zip(models, tmps):
            m.save_pretrained(t)


if __name__ == "__main__":
    run_step(main, description=__doc__)
