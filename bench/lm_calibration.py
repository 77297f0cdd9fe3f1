"""The train-and-score loop the LM calibration scripts share (bench/calibrate_retrieval_heads.py,
bench/calibrate_meta_tokens.py; issue 13).

One model, ONE seed, trained from FRESH data: batch s (1-based) is rows (s-1)*B .. s*B-1 of a pool of
steps*B generated sequences, so no sequence is seen twice. The run keeps one warm-up + cosine
schedule over its `steps` and is scored every `every` steps (train() stops at each mark and resumes
from its checkpoint, weights and optimizer). Wall and CPU seconds of training exclude the scoring.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "workflow") not in sys.path:
    sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.trainer import LOG, TrainSettings, train  # noqa: E402


class FreshBatches:
    """Batch of step s (1-based) = rows (s-1)*B .. s*B-1 of the pool: every example is seen once."""

    def __init__(self, data: SequenceData, batch_size: int):
        self.data, self.B = data, batch_size

    def __call__(self, step: int) -> dict:
        return self.data.collate(range((step - 1) * self.B, step * self.B))


def set_key(cfg: dict, assignment: str) -> None:
    """KEY=VALUE (KEY dotted, VALUE read as YAML) on an experiment's config block, copying the
    nested dicts it changes so the caller's config is left alone."""
    key, sep, value = assignment.partition("=")
    if not sep:
        raise SystemExit(f"--set {assignment!r}: expected KEY=VALUE")
    *path, last = key.split(".")
    node = cfg
    for part in path:
        node[part] = dict(node.get(part) or {})
        node = node[part]
    node[last] = yaml.safe_load(value)


def fmt(row: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


def train_and_score(model, pool, train_cfg: dict, steps: int, every: int,
                    scorer: Callable[[object], dict]) -> list[dict]:
    """Train `model` for `steps` fresh batches of `pool` (a generated frame of >= steps * batch_size
    sequences, in the order to be seen) with the settings `train_cfg` (its steps, checkpointing and
    logging replaced), calling `scorer(model)` (-> dict of numbers) every `every` steps and at the
    end. One row per mark: run_steps, step, train_wall_s, train_cpu_s, train_loss, grad_norm (before
    clipping, at the mark's step), then the scores."""
    settings = TrainSettings.from_dict({**train_cfg, "steps": steps, "checkpoint_every": every,
                                        "keep_checkpoints": 1, "log_every": every})
    if len(pool) < steps * settings.batch_size:
        raise ValueError(f"train_and_score: pool of {len(pool)} < {steps} steps x batch {settings.batch_size}")
    batches = FreshBatches(SequenceData(pool), settings.batch_size)
    rows, t0, c0, scoring, scoring_cpu = [], time.perf_counter(), time.process_time(), 0.0, 0.0
    marks = sorted({*range(every, steps + 1, every), steps})
    with tempfile.TemporaryDirectory() as work:
        for mark in marks:
            try:
                train(model, batches, settings, work, progress=False, stop_after=mark if mark < steps else None)
            except Exception as e:  # TrainingInterrupted: the segment ended
                if type(e).__name__ != "TrainingInterrupted":
                    raise
            t1, c1 = time.perf_counter(), time.process_time()
            log_file = Path(work) / LOG
            log = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.exists() else []
            r = {"run_steps": steps, "step": mark, "train_wall_s": round(t1 - t0 - scoring, 1),
                 "train_cpu_s": round(c1 - c0 - scoring_cpu, 1),
                 "train_loss": float(log[-1]["loss"]) if log else float("nan"),
                 "grad_norm": float(log[-1]["grad_norm"]) if log else float("nan"), **scorer(model)}
            scoring += time.perf_counter() - t1
            scoring_cpu += time.process_time() - c1
            rows.append(r)
            print("  " + fmt(r), flush=True)
            model.train()
    return rows


def smallest_reaching(rows: list[dict], key: str, bar: float) -> str:
    """The smallest run length whose FINAL model has rows[key] >= bar, or 'none of [...]'."""
    finals = [r for r in rows if r["step"] == r["run_steps"]]
    reached = [r["run_steps"] for r in finals if r[key] >= bar]
    return str(min(reached)) if reached else f"none of {[r['run_steps'] for r in finals]}"
