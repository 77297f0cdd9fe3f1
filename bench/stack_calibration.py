"""The stacked-seeds calibration loop that calibrate_pine, calibrate_multihop_mask,
calibrate_preplan_anchor and calibrate_circuits share (issues 14 and 16).

An experiment's config block (steps, and optionally lr, batch size, n_train and any `--set KEY=VALUE`,
replaced), its seed
indices 0..seeds−1 built by the experiment's own plan (`train_params`, `synth_params`) and trained as
one stack on one thread. The models are handed to `report` at each listed step count (one run: the
schedule is that of the largest); wall and CPU seconds count training only, not the scoring.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "workflow") not in sys.path:
    sys.path.insert(0, str(ROOT / "workflow"))

from lm_calibration import set_key  # noqa: E402,F401  (re-exported for the calibrate_* scripts)

from attnlab.tasks.synth import synthesize  # noqa: E402
from attnlab.train.lm import batches_for, build_model  # noqa: E402
from attnlab.train.stack import train_stack  # noqa: E402
from attnlab.train.trainer import TrainingInterrupted, TrainSettings  # noqa: E402


def arguments(doc: str, extra: Callable | None = None) -> argparse.Namespace:
    """The shared options; `extra(parser)` adds a script's own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", required=True, help="step counts to score at (one run)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-train", type=int)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="any key of the experiment's block (dotted, value read as YAML), e.g. "
                        "model.initializer_range=0.08; applied before the other options")
    if extra:
        extra(p)
    return p.parse_args()


def run(exp: str, plan, a: argparse.Namespace, report: Callable, *, eval_split: str, title: str,
        train_params: Callable | None = None) -> None:
    """Train experiment `exp`'s baseline as described above; `report(step, seed_index, model,
    eval_rows, log)` prints the competence quantity at each mark. `train_params(cfg, base_seed, s)`
    defaults to the plan's."""
    torch.set_num_threads(1)
    full = yaml.safe_load(open(a.config))
    cfg, base_seed = dict(full["experiments"][exp]), full["base_seed"]
    for assignment in getattr(a, "set", []):
        set_key(cfg, assignment)
    if a.n_train:
        cfg["n_train"] = a.n_train
    tr = {**cfg["train"], "steps": max(a.steps), "checkpoint_every": math.gcd(*a.steps)}
    tr.update({k: v for k, v in (("batch_size", a.batch_size), ("lr", a.lr)) if v})
    cfg["train"] = tr
    settings = TrainSettings.from_dict(tr)
    task = f"task {cfg['task']}, " if "task" in cfg else ""
    print(f"{exp} calibration ({title}): {task}model {cfg['model']}, n_train {cfg['n_train']}, steps {a.steps} x batch "
          f"{tr['batch_size']}, lr {tr['lr']}, seeds {a.seeds}", flush=True)
    params = [(train_params or plan.train_params)(cfg, base_seed, s) for s in range(a.seeds)]
    trains = [synthesize(**plan.synth_params(cfg, base_seed, "train", s)) for s in range(a.seeds)]
    evals = [synthesize(**plan.synth_params(cfg, base_seed, eval_split, s)) for s in range(a.seeds)]
    models = [build_model(q["model"], q["seed"]) for q in params]
    batches = [batches_for(d, settings, q["seed"]) for d, q in zip(trains, params)]
    wall = cpu = 0.0
    with tempfile.TemporaryDirectory() as work:
        for target in sorted(a.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            try:  # the last mark trains to the end (the models come back in eval mode)
                train_stack(models, batches, settings, work, progress=False,
                            stop_after=target if target < max(a.steps) else None)
            except TrainingInterrupted:
                pass
            wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
            for s, (model, ev) in enumerate(zip(models, evals)):
                log = [json.loads(line) for line in open(Path(work) / f"member{s}" / "train_log.jsonl")]
                report(target, s, model, ev, log)
            print(f"step {target}: train wall {wall:.0f} s, CPU {cpu:.0f} s (one thread, {a.seeds} seed(s) stacked)",
                  flush=True)
