"""Calibrate the preplan_anchor training steps on its baseline (the only model: softmax attention).

    python bench/calibrate_preplan_anchor.py --steps 400 800 1200 [--seeds 1] [--lr 0.003]

Trains seed indices 0..seeds−1 of `experiments.preplan_anchor` (the config's model, data and train
settings, the steps replaced) as one stack on one thread, and prints the competence quantity
(greedy teacher-forced accuracy on result tokens of the held-out traces; the gate
`competence.result_accuracy`) and the accuracy on every trace token after each step count (trained
on in one run: checkpoints are read at the listed steps, the schedule is that of the largest).
No claim quantity (WAAD, FAI, enrichments) is computed or printed: only competence.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.preplan_anchor import plan  # noqa: E402
from attnlab.tasks.synth import synthesize  # noqa: E402
from attnlab.train.lm import batches_for, build_model  # noqa: E402
from attnlab.train.stack import train_stack  # noqa: E402
from attnlab.train.trainer import TrainingInterrupted, TrainSettings  # noqa: E402


@torch.no_grad()
def accuracy(model, df) -> tuple[float, float]:
    model.eval()
    right_r = n_r = right = n = 0
    for _, g in df.groupby("length"):
        ids = torch.tensor(list(map(list, g.input_ids)))
        pred = model(ids).logits[:, :-1].argmax(-1)
        ok = (pred == ids[:, 1:]).numpy()
        mask = torch.tensor(list(map(list, g.target_mask)))[:, 1:].numpy()
        lab = torch.tensor(list(map(list, g["labels"])))[:, 1:].numpy()
        res = mask & (lab >= 2)
        right_r, n_r = right_r + ok[res].sum(), n_r + res.sum()
        right, n = right + ok[mask].sum(), n + mask.sum()
    model.train()
    return right_r / n_r, right / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--lr", type=float)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(open(a.config))
    cfg, base_seed = dict(full["experiments"]["preplan_anchor"]), full["base_seed"]
    tr = {**cfg["train"], "steps": max(a.steps), "checkpoint_every": math.gcd(*a.steps)}
    if a.lr:
        tr["lr"] = a.lr
    cfg["train"] = tr
    settings = TrainSettings.from_dict(tr)
    print(f"preplan_anchor calibration: model {cfg['model']}, n_train {cfg['n_train']}, steps {a.steps} x batch "
          f"{tr['batch_size']}, lr {tr['lr']}, seeds {a.seeds}", flush=True)
    params = [plan.train_params(cfg, base_seed, s) for s in range(a.seeds)]
    trains = [synthesize(**plan.synth_params(cfg, base_seed, "train", s)) for s in range(a.seeds)]
    evals = [synthesize(**plan.synth_params(cfg, base_seed, "eval", s)) for s in range(a.seeds)]
    models = [build_model(q["model"], q["seed"]) for q in params]
    batches = [batches_for(d, settings, q["seed"]) for d, q in zip(trains, params)]
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    with tempfile.TemporaryDirectory() as work:
        for target in sorted(a.steps):
            try:
                train_stack(models, batches, settings, work, progress=False, stop_after=target)
            except TrainingInterrupted:
                pass
            done = target
            logs = [[r for r in map(json.loads, open(Path(work) / f"member{i}" / "train_log.jsonl"))]
                    for i in range(len(models))]
            for s, (model, ev, log) in enumerate(zip(models, evals, logs)):
                r, t = accuracy(model, ev)
                print(f"step {done} seed {s}: result accuracy {r:.3f}, all trace tokens {t:.3f}, loss "
                      f"{log[-1]['loss']:.3f} | wall {time.perf_counter() - t0:.0f} s, CPU "
                      f"{time.process_time() - c0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
