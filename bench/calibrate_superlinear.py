"""Calibrate superlinear's step count on the DENSE baseline, ONE seed (issue 15), before any claim seed runs.

The dense (softmax) model of config/config.yaml's superlinear block is trained on the experiment's
needle task (attnlab.superlinear.task: several needles, several queries per sequence, every answer
token supervised) at `train_len`, from FRESH data (every optimizer step gets `batch_size` newly
generated sequences, seeded apart from the claim runs' data). NIAH exact match per query (both value
tokens right, teacher-forced argmax = greedy) is measured on held-out sequences at `train_len` every
`--every` steps. Each step count in `--steps` is its own run with its own warm-up + cosine schedule;
the answer is the smallest count whose FINAL model reaches the competence bar
(experiments.superlinear.competence.dense_niah).

Before training it prints the task's shortcut baselines: answers a predictor gets right without
matching the queried key (first needle, last needle, a random needle, the most frequent value).

    python bench/calibrate_superlinear.py --steps 400 800

One thread, one process. Wall times are as measured (say what else was running when recording).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.seeds import derive_seed  # noqa: E402
from attnlab.superlinear import plan  # noqa: E402
from attnlab.superlinear.metrics import score_queries  # noqa: E402
from attnlab.superlinear.task import generate  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import build_model  # noqa: E402
from attnlab.train.trainer import TrainSettings, train  # noqa: E402


def shortcut_baselines(df, value_len: int) -> dict[str, float]:
    """Exact match of predictors that never match the queried key."""
    rng = np.random.default_rng(0)
    out = {"first needle": [], "last needle": [], "random needle": []}
    for _, r in df.iterrows():
        x = np.asarray(r.input_ids)
        needles = np.flatnonzero(x[: np.flatnonzero(x == 3)[0]] == 4)  # KEY markers before the first QUERY
        for a in r.answer_pos:
            truth = x[a + 1: a + 1 + value_len]
            for name, n in (("first needle", needles[0]), ("last needle", needles[-1]),
                            ("random needle", rng.choice(needles))):
                out[name].append(bool((x[n + 3: n + 3 + value_len] == truth).all()))
    return {k: float(np.mean(v)) for k, v in out.items()}


class FreshBatches:
    def __init__(self, data: SequenceData, batch_size: int):
        self.data, self.B = data, batch_size

    def __call__(self, step: int) -> dict:
        return self.data.collate(range((step - 1) * self.B, step * self.B))


def calibrate_one(cfg, base_seed, steps, every, n_eval, seed_index, variant):
    params = plan.train_params(cfg, base_seed, variant, seed_index)
    settings = TrainSettings.from_dict({**params["train"], "steps": steps, "checkpoint_every": every,
                                        "keep_checkpoints": 1, "log_every": every})
    seed = derive_seed(base_seed, "calibrate_superlinear", seed_index)
    pool = generate(steps * settings.batch_size, derive_seed(seed, "train"), length=cfg["train_len"], **cfg["task"])
    held = generate(n_eval, derive_seed(seed, "eval"), length=cfg["train_len"], **cfg["task"])
    model = build_model(params["model"], params["seed"])
    rows, t0, scoring = [], time.perf_counter(), 0.0
    batches = FreshBatches(SequenceData(pool), settings.batch_size)
    with tempfile.TemporaryDirectory() as work:
        for mark in sorted({*range(every, steps + 1, every), steps}):
            try:
                log = train(model, batches, settings, work, progress=False, stop_after=mark if mark < steps else None)
            except Exception as e:  # TrainingInterrupted: the segment ended
                if type(e).__name__ != "TrainingInterrupted":
                    raise
                log = []
            t1 = time.perf_counter()
            q = score_queries(model, held, cfg["task"]["value_len"], 100)
            r = {"run_steps": steps, "step": mark, "train_wall_s": round(t1 - t0 - scoring, 1),
                 "niah": float(q.correct.mean()),
                 "niah_far": float(q[q.depth < 0.375].correct.mean())}
            if log:
                r["loss"] = log[-1].get("loss")
            scoring += time.perf_counter() - t1
            rows.append(r)
            print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()),
                  flush=True)
            model.train()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--steps", type=int, nargs="+", required=True, help="step counts, one run each")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML",
                    help="override keys of experiments.superlinear, e.g. train.lr=0.003")
    ap.add_argument("--every", type=int, default=100, help="score the model every N steps")
    ap.add_argument("--n-eval", type=int, default=100, help="held-out sequences (x n_queries queries)")
    ap.add_argument("--seed-index", type=int, default=0)
    ap.add_argument("--variant", default="dense", help="dense (the calibration); others for information only")
    a = ap.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(Path(a.config).read_text())
    cfg = dict(full["experiments"]["superlinear"])
    for kv in a.set:
        key, value = kv.split("=", 1)
        *path, last = key.split(".")
        node = cfg
        for p in path:
            node[p] = dict(node[p])
            node = node[p]
        node[last] = yaml.safe_load(value)
    bar = cfg["competence"]["dense_niah"]
    m, t = cfg["model"], cfg["train"]
    print(f"superlinear calibration ({a.variant}): task {cfg['task']}, length {cfg['train_len']}, model {m}, "
          f"batch {t['batch_size']}, lr {t['lr']}, warmup {t['warmup_steps']}, fresh data, {a.n_eval} held-out "
          "sequences, torch threads 1")
    df = generate(100, 99, length=cfg["train_len"], **cfg["task"])
    print("shortcut baselines (exact match per query): "
          + ", ".join(f"{k} {v:.3f}" for k, v in shortcut_baselines(df, cfg["task"]["value_len"]).items())
          + f"; chance {1 / cfg['task']['n_values'] ** cfg['task']['value_len']:.4f}")
    results = []
    for steps in a.steps:
        print(f"run of {steps} steps:", flush=True)
        results += calibrate_one(cfg, full["base_seed"], steps, a.every, a.n_eval, a.seed_index, a.variant)
    finals = [r for r in results if r["step"] == r["run_steps"]]
    reached = [r["run_steps"] for r in finals if r["niah"] >= bar]
    print("final models: " + "; ".join(f"{r['run_steps']} steps: NIAH {r['niah']:.3f}, {r['train_wall_s']} s"
                                       for r in finals))
    print(f"smallest step count reaching NIAH exact match >= {bar}: "
          f"{min(reached) if reached else 'none of ' + str(a.steps)}")


if __name__ == "__main__":
    main()
