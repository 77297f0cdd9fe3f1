"""Calibrate the dynamic_mask experiment's size and steps on its BASELINE, multi-head attention (issue 13).

    python bench/calibrate_dynamic_mask.py --steps 600 --window 32 --train-len 128 --pairs 8 16 32 \
        [--batch-size 32] [--lr 0.003] [--n-train 3000] [--mqar 64 64 16] [--seeds 1] \
        [--set model.initializer_range=0.08 model.gpt2_init=true]

Trains the "mha" variant of `experiments.dynamic_mask` (the config's model and train settings; the
given window, training length, K set, MQAR vocabulary and steps replace the config's) for seed
indices 0..seeds−1 as one stack, one thread, and prints its in-distribution MQAR accuracy: fresh
sequences at the training length, per K and the mean over K (the competence gate
`experiments.dynamic_mask.competence.mha_accuracy` reads this mean). Also prints the training wall
time (one thread; say what else ran). Only MHA is trained: DMA and the sliding window are never
seen before the size and step count are frozen. `--set KEY=YAML` changes any other key of the block
(bench/lm_calibration.py's set_key), applied after the options above.
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

sys.path.insert(0, str(ROOT / "bench"))

from lm_calibration import set_key  # noqa: E402

from attnlab.dynamic_mask import plan  # noqa: E402
from attnlab.tasks.synth import synthesize  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import batches_for, build_model  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402
from attnlab.train.stack import train_stack  # noqa: E402
from attnlab.train.trainer import TrainSettings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--train-len", type=int, required=True)
    p.add_argument("--pairs", type=int, nargs="+", required=True)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-train", type=int)
    p.add_argument("--mqar", type=int, nargs=3, metavar=("N_KEYS", "N_VALUES", "N_NOISE"))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--warmup", type=int, help="train.warmup_steps")
    p.add_argument("--train-queries", type=int,
                   help="queries per training sequence (train_queries; default every key once); tests keep the spec's")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML",
                   help="any other key of experiments.dynamic_mask, e.g. model.initializer_range=0.08")
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(open(a.config))
    cfg, base_seed = dict(full["experiments"]["dynamic_mask"]), full["base_seed"]
    cfg.update(window=a.window, train_len=a.train_len, train_pairs=a.pairs, test_pairs=a.pairs,
               test_lengths=[a.train_len], n_test=200)
    if a.n_train:
        cfg["n_train"] = a.n_train
    if a.mqar:
        cfg["mqar"] = dict(zip(("n_keys", "n_values", "n_noise"), a.mqar))
    tr = {**cfg["train"], "steps": a.steps, "checkpoint_every": 0}
    tr.update({k: v for k, v in (("batch_size", a.batch_size), ("lr", a.lr), ("warmup_steps", a.warmup)) if v})
    if a.train_queries:
        cfg["train_queries"] = a.train_queries
    cfg["train"] = tr
    for assignment in a.set:
        set_key(cfg, assignment)
    tr = cfg["train"]
    settings = TrainSettings.from_dict(tr)
    print(f"dynamic_mask calibration (MHA): window {a.window}, train_len {a.train_len}, K {a.pairs}, "
          f"mqar {cfg['mqar']}, n_train {cfg['n_train']}/K, model {cfg['model']}, steps {a.steps} x batch "
          f"{tr['batch_size']}, lr {tr['lr']}, warmup {tr['warmup_steps']}, train_queries "
          f"{cfg.get('train_queries', 'every key once')}, seeds {a.seeds}", flush=True)
    params = [plan.train_params(cfg, base_seed, "mha", s) for s in range(a.seeds)]
    trains = [synthesize(**plan.synth_params(cfg, base_seed, "train", s)) for s in range(a.seeds)]
    tests = [synthesize(**plan.synth_params(cfg, base_seed, "test", s)) for s in range(a.seeds)]
    models = [build_model(q["model"], q["seed"]) for q in params]
    batches = [batches_for(d, settings, q["seed"]) for d, q in zip(trains, params)]
    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as work:
        logs = train_stack(models, batches, settings, work, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for s, (model, test, log) in enumerate(zip(models, tests, logs)):
        sc = score(model, SequenceData(test), 100)
        per_k = sc.groupby("n_pairs").apply(lambda g: g.n_correct.sum() / g.n_targets.sum())
        curve = " ".join(f"{r['step']}:{r['loss']:.2f}" for r in log[:: max(1, len(log) // 8)])
        print(f"seed {s}: in-distribution accuracy mean over K {per_k.mean():.3f} | per K "
              + ", ".join(f"K={k}: {v:.3f}" for k, v in per_k.items())
              + f" | train wall {wall:.0f} s, CPU {cpu:.0f} s | loss curve {curve}", flush=True)


if __name__ == "__main__":
    main()
