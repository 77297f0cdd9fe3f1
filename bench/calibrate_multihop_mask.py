"""Calibrate the multihop_mask experiment's training on its BASELINE, the causal decoder (issue 14).

    python bench/calibrate_multihop_mask.py --steps 700 [--lr 0.003] [--batch-size 32] [--seeds 1] [--n-train N]

Trains the "causal" variant of `experiments.multihop_mask` (the config's model; the given steps,
lr, batch replace the config's) for seed indices 0..seeds−1 as one stack, one thread, and prints
its exact match per document order and the mean over orders (the learnability gate
`experiments.multihop_mask.competence.causal_em` reads this mean). Also prints the training wall
time (one thread; say what else ran). The prefix-bidirectional model is never run here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.multihop_mask import plan  # noqa: E402
from attnlab.tasks.synth import synthesize  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import batches_for, build_model  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402
from attnlab.train.stack import train_stack  # noqa: E402
from attnlab.train.trainer import TrainSettings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-train", type=int)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(open(a.config))
    cfg, base_seed = dict(full["experiments"]["multihop_mask"]), full["base_seed"]
    if a.n_train:
        cfg["n_train"] = a.n_train
    tr = {**cfg["train"], "steps": a.steps, "checkpoint_every": 0}
    tr.update({k: v for k, v in (("batch_size", a.batch_size), ("lr", a.lr)) if v})
    cfg["train"] = tr
    settings = TrainSettings.from_dict(tr)
    print(f"multihop_mask calibration (causal decoder): task {cfg['task']}, n_train {cfg['n_train']}, model "
          f"{cfg['model']}, steps {a.steps} x batch {tr['batch_size']}, lr {tr['lr']}, seeds {a.seeds}", flush=True)
    params = [plan.train_params(cfg, base_seed, "causal", s) for s in range(a.seeds)]
    trains = [synthesize(**plan.synth_params(cfg, base_seed, "train", s)) for s in range(a.seeds)]
    tests = [synthesize(**plan.synth_params(cfg, base_seed, "test", s)) for s in range(a.seeds)]
    models = [build_model(q["model"], q["seed"]) for q in params]
    batches = [batches_for(d, settings, q["seed"]) for d, q in zip(trains, params)]
    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as work:
        logs = train_stack(models, batches, settings, work, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for s, (model, test, log) in enumerate(zip(models, tests, logs)):
        sc = score(model, SequenceData(test), 150)
        em = sc.groupby("order", sort=False).exact.mean()
        curve = " ".join(f"{r['step']}:{r['loss']:.2f}" for r in log[:: max(1, len(log) // 8)])
        print(f"seed {s}: causal EM mean over orders {em.mean():.3f} | "
              f"{' '.join(f'{o} {v:.2f}' for o, v in em.items())} | loss {curve}", flush=True)
    print(f"train wall {wall:.0f} s, CPU {cpu:.0f} s (one thread, {a.seeds} seed(s) stacked)")


if __name__ == "__main__":
    main()
