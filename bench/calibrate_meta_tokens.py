"""Calibrate meta_tokens' step count on ONE baseline seed (issue 13), before any claim seed runs.

The baseline (causal softmax attention, rotary positions, no meta-tokens) of config/config.yaml's
meta_tokens block is trained on list recall at `train_len` from FRESH data: every optimizer step
gets `batch_size` newly generated sequences, none repeated (seeded apart from the claim runs' data).
Exact match (every target token right, teacher-forced argmax, as the evaluate step scores it) is
measured on held-out fresh sequences at the training length, and at 2x it for information, every
`--every` steps of each run. Each step count in `--steps` is its own run with its own warm-up +
cosine schedule (the schedule depends on the total, so accuracy at step s of a longer run is not
what an s-step run reaches); the answer is the smallest count whose FINAL model reaches the bar.

Before training it prints the shortcut baselines of the task (attnlab.meta_tokens.shortcuts):
exact match of predictors that read only positions or token statistics, never the query.

    python bench/calibrate_meta_tokens.py --steps 300 600 900          # the config's train_len
    python bench/calibrate_meta_tokens.py --train-len 128 --steps 600   # the spec's mini length

One thread, one process. Wall times are as measured (say what else was running when recording);
the process's CPU time (train_cpu_s) is the closer estimate of an idle machine's wall time.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.meta_tokens import plan  # noqa: E402
from attnlab.meta_tokens.shortcuts import shortcut_baselines  # noqa: E402
from attnlab.seeds import derive_seed  # noqa: E402
from attnlab.tasks import TASKS  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import build_model  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402
from attnlab.train.trainer import LOG, TrainSettings, train  # noqa: E402

TASK = "list_recall"


class FreshBatches:
    """Batch of step s (1-based) = rows (s-1)*B .. s*B-1 of a pool of steps*B generated sequences:
    every example is seen once."""

    def __init__(self, data: SequenceData, batch_size: int):
        self.data, self.B = data, batch_size

    def __call__(self, step: int) -> dict:
        return self.data.collate(range((step - 1) * self.B, step * self.B))


def accuracy(model, df, batch_size: int = 100) -> tuple[float, float]:
    """(exact match, token accuracy) as the evaluate step scores them (teacher-forced argmax)."""
    s = score(model, SequenceData(df), batch_size)
    return float(s.exact.mean()), float(s.n_correct.sum() / s.n_targets.sum())


def set_key(cfg: dict, assignment: str) -> None:
    """--set a.b.c=VALUE (VALUE read as YAML) on the meta_tokens block."""
    key, _, value = assignment.partition("=")
    *path, last = key.split(".")
    node = cfg
    for part in path:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(value)


def calibrate_one(cfg: dict, base_seed: int, steps: int, every: int, n_eval: int, lr: float | None,
                  seed_index: int) -> list[dict]:
    params = plan.train_params(cfg, base_seed, TASK, "baseline", seed_index)
    tp, L = plan.task_params(cfg, TASK), cfg["train_len"]
    # a checkpoint at every scoring mark: train() resumes from it (weights and optimizer) after scoring
    train_cfg = {**params["train"], "steps": steps, "checkpoint_every": every, "keep_checkpoints": 1,
                 "log_every": every}
    if lr is not None:
        train_cfg["lr"] = lr
    settings = TrainSettings.from_dict(train_cfg)
    gen = TASKS[TASK].generate
    seed = derive_seed(base_seed, "calibrate_meta_tokens", seed_index)
    pool = gen(steps * settings.batch_size, derive_seed(seed, "train"), seq_len=L, **tp)
    if pool.input_ids.map(bytes).nunique() != len(pool):
        print(f"  note: {len(pool) - pool.input_ids.map(bytes).nunique()} duplicate sequences in the pool")
    held = {n: gen(n_eval, derive_seed(seed, "eval", n), seq_len=n, **tp) for n in (L, 2 * L)}
    model = build_model(params["model"], params["seed"])
    rows, t0, c0, scoring, scoring_cpu = [], time.perf_counter(), time.process_time(), 0.0, 0.0
    batches = FreshBatches(SequenceData(pool), settings.batch_size)
    marks = sorted({*range(every, steps + 1, every), steps})
    with tempfile.TemporaryDirectory() as work:
        # train in segments (stop_after) so the model is scored along the way on one schedule
        for mark in marks:
            try:
                train(model, batches, settings, work, progress=False, stop_after=mark if mark < steps else None)
            except Exception as e:  # TrainingInterrupted: the segment ended
                if type(e).__name__ != "TrainingInterrupted":
                    raise
            t1, c1 = time.perf_counter(), time.process_time()
            log = [json.loads(line) for line in (Path(work) / LOG).read_text().splitlines()]
            r = {"run_steps": steps, "step": mark, "train_wall_s": round(t1 - t0 - scoring, 1),
                 "train_cpu_s": round(c1 - c0 - scoring_cpu, 1),
                 "train_loss": log[-1]["loss"] if log else float("nan")}
            for n in held:
                r[f"exact@{n}"], r[f"token@{n}"] = accuracy(model, held[n])
            scoring += time.perf_counter() - t1
            scoring_cpu += time.process_time() - c1
            rows.append(r)
            print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()),
                  flush=True)
            model.train()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--steps", type=int, nargs="+", required=True, help="step counts, one run each")
    ap.add_argument("--train-len", type=int, help="override experiments.meta_tokens.train_len")
    ap.add_argument("--lr", type=float, help="override experiments.meta_tokens.train.lr")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override any key of the meta_tokens block, e.g. task_params.list_recall.list_len=2")
    ap.add_argument("--every", type=int, default=100, help="score the model every N steps")
    ap.add_argument("--n-eval", type=int, default=200, help="held-out sequences per length")
    ap.add_argument("--bar", type=float, default=0.9)
    ap.add_argument("--seed-index", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(Path(a.config).read_text())
    cfg = copy.deepcopy(full["experiments"]["meta_tokens"])
    if a.train_len:
        cfg["train_len"] = a.train_len
    for assignment in a.set:
        set_key(cfg, assignment)
    L, tp = cfg["train_len"], plan.task_params(cfg, TASK)
    m, t = cfg["model"], cfg["train"]
    print(f"meta_tokens calibration: baseline, {TASK} {tp}, train_len {L}, model {m}, train {t}, "
          f"lr {a.lr or t['lr']}, fresh data (no example repeated), "
          f"{a.n_eval} held-out sequences per length, torch threads 1")
    for n in (L, 2 * L):
        df = TASKS[TASK].generate(2000, 99 + n, seq_len=n, **tp)
        sb = shortcut_baselines(df, list_len=tp["list_len"], n_items=tp["n_items"])
        print(f"shortcut baselines at length {n} (exact match, 2000 sequences): "
              + ", ".join(f"{k} {v:.3f}" for k, v in sb.items()))
    results = []
    for steps in a.steps:
        print(f"run of {steps} steps:", flush=True)
        results += calibrate_one(cfg, full["base_seed"], steps, a.every, a.n_eval, a.lr, a.seed_index)
    finals = [r for r in results if r["step"] == r["run_steps"]]
    reached = [r["run_steps"] for r in finals if r[f"exact@{L}"] >= a.bar]
    print("final models: " + "; ".join(f"{r['run_steps']} steps: exact@{L} {r[f'exact@{L}']:.3f}, "
                                       f"exact@{2 * L} {r[f'exact@{2 * L}']:.3f}, {r['train_wall_s']} s"
                                       for r in finals))
    print(f"smallest step count reaching exact match >= {a.bar} at length {L}: "
          f"{min(reached) if reached else 'none of ' + str(a.steps)}")


if __name__ == "__main__":
    main()
