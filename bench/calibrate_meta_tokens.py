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
    python bench/calibrate_meta_tokens.py --steps 400 --set train_queries=4 train.lr=0.01

Training sequences carry `train_queries` queries (config key experiments.meta_tokens.train_queries,
default 1; attnlab.tasks.recall.list_recall's n_queries); held-out sequences one, as the evaluate
step's test data. The loop is bench/lm_calibration.py's, shared with calibrate_retrieval_heads.py.

One thread, one process. Wall times are as measured (say what else was running when recording);
the process's CPU time (train_cpu_s) is the closer estimate of an idle machine's wall time.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "bench"))

from lm_calibration import set_key, smallest_reaching, train_and_score  # noqa: E402

from attnlab.meta_tokens import plan  # noqa: E402
from attnlab.meta_tokens.shortcuts import shortcut_baselines  # noqa: E402
from attnlab.seeds import derive_seed  # noqa: E402
from attnlab.tasks import TASKS  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import build_model  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402

TASK = "list_recall"


def accuracy(model, df, batch_size: int = 100) -> tuple[float, float]:
    """(exact match, token accuracy) as the evaluate step scores them (teacher-forced argmax)."""
    s = score(model, SequenceData(df), batch_size)
    return float(s.exact.mean()), float(s.n_correct.sum() / s.n_targets.sum())


def baseline_data(cfg: dict, base_seed: int, steps: int, n_eval: int, seed_index: int):
    """(train params of the baseline, fresh training pool of steps x batch sequences in the order
    seen, {length: held-out one-query frame} at train_len and 2x): what calibrate_one trains on
    (bench/recall_learnability.py trains other models on the same data)."""
    params = plan.train_params(cfg, base_seed, TASK, "baseline", seed_index)
    tp, L = plan.task_params(cfg, TASK), cfg["train_len"]
    gen = TASKS[TASK].generate
    seed = derive_seed(base_seed, "calibrate_meta_tokens", seed_index)
    parts = plan.train_parts(cfg, TASK, steps * params["train"]["batch_size"])
    pool = pd.concat([gen(p["n"], derive_seed(seed, "train", i), **{k: v for k, v in p.items() if k not in ("task", "n")})
                      for i, p in enumerate(parts)], ignore_index=True)
    pool = pool.sample(frac=1.0, random_state=seed % 2**32).reset_index(drop=True)
    if pool.input_ids.map(bytes).nunique() != len(pool):
        print(f"  note: {len(pool) - pool.input_ids.map(bytes).nunique()} duplicate sequences in the pool")
    held = {n: gen(n_eval, derive_seed(seed, "eval", n), seq_len=n, **tp) for n in (L, 2 * L)}
    return params, pool, held


def held_scorer(held: dict):
    """scorer(model) -> {exact@n, token@n} on each held-out frame (lm_calibration's scorer)."""

    def scorer(m) -> dict:
        out = {}
        for n in held:
            out[f"exact@{n}"], out[f"token@{n}"] = accuracy(m, held[n])
        return out

    return scorer


def calibrate_one(cfg: dict, base_seed: int, steps: int, every: int, n_eval: int, seed_index: int) -> list[dict]:
    params, pool, held = baseline_data(cfg, base_seed, steps, n_eval, seed_index)
    model = build_model(params["model"], params["seed"])
    return train_and_score(model, pool, params["train"], steps, every, held_scorer(held))


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
    ap.add_argument("--seed-index", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(Path(a.config).read_text())
    cfg = copy.deepcopy(full["experiments"]["meta_tokens"])
    if a.train_len:
        cfg["train_len"] = a.train_len
    if a.lr is not None:
        cfg["train"]["lr"] = a.lr
    for assignment in a.set:
        set_key(cfg, assignment)
    L, tp = cfg["train_len"], plan.task_params(cfg, TASK)
    bar = cfg["competence"]["exact_match"]
    print(f"meta_tokens calibration: baseline, {TASK} {tp}, train_len {L}, train_queries "
          f"{cfg.get('train_queries', 1)}, train_len_mix {cfg.get('train_len_mix')}, model {cfg['model']}, train {cfg['train']}, fresh data (no example "
          f"repeated), {a.n_eval} held-out one-query sequences per length, torch threads 1")
    for n in (L, 2 * L):
        df = TASKS[TASK].generate(2000, 99 + n, seq_len=n, **tp)
        sb = shortcut_baselines(df, list_len=tp["list_len"], n_items=tp["n_items"])
        print(f"shortcut baselines at length {n} (exact match, 2000 sequences): "
              + ", ".join(f"{k} {v:.3f}" for k, v in sb.items()))
    results = []
    for steps in a.steps:
        print(f"run of {steps} steps:", flush=True)
        results += calibrate_one(cfg, full["base_seed"], steps, a.every, a.n_eval, a.seed_index)
    finals = [r for r in results if r["step"] == r["run_steps"]]
    print("final models: " + "; ".join(f"{r['run_steps']} steps: exact@{L} {r[f'exact@{L}']:.3f}, "
                                       f"exact@{2 * L} {r[f'exact@{2 * L}']:.3f}, {r['train_cpu_s']} CPU s"
                                       for r in finals))
    print(f"smallest step count reaching exact match >= {bar} at length {L}: "
          f"{smallest_reaching(results, f'exact@{L}', bar)}")


if __name__ == "__main__":
    main()
