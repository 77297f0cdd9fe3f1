"""Calibrate the cab experiment's training steps on its BASELINE, vanilla attention (issue 14).

    python bench/calibrate_cab.py --steps 250 [--seeds 1] [--patterns nc cc] [--config config/config.yaml]

For each step count: trains the vanilla model of each pattern (`experiments.cab`, the config's
model, data and train settings, `train.steps` replaced) for seed indices 0..seeds−1 as one stack
per pattern, one thread, and prints each model's test token accuracy (with the Bayes accuracy of
NS and CS beside it) and the CPU time. The competence gate is vanilla ≥
`competence.vanilla_cross_accuracy` on NC and CC. Only vanilla is trained here: the efficient
mechanisms are never seen before the step count is frozen.
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

from attnlab.cab import PATTERNS, plan  # noqa: E402
from attnlab.cab.score import accuracy, oracle_accuracy  # noqa: E402
from attnlab.cab.synth import generate  # noqa: E402
from attnlab.cab.train import batch_source, build_model  # noqa: E402
from attnlab.train.stack import train_stack  # noqa: E402
from attnlab.train.trainer import TrainSettings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=PATTERNS)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    config = yaml.safe_load(open(a.config))
    base_seed = config["base_seed"]
    seeds = list(range(a.seeds))
    for steps in a.steps:
        cfg = copy.deepcopy(config["experiments"]["cab"])
        cfg["train"]["steps"] = steps
        cfg["mechanisms"] = {k: ["vanilla"] for k in cfg["mechanisms"]}
        sp = plan.synth_params(cfg, base_seed, seeds)
        for pattern in a.patterns:
            members = plan.members(cfg, base_seed, pattern, seeds)
            data = {i: {split: generate(pattern, split, cfg["n_train"] if split == "train" else cfg["n_test"],
                                        sp["seeds"][str(i)]["data"], sp["seeds"][str(i)]["chain"], sp)
                        for split in ("train", "test")} for i in seeds}
            models = [build_model(pattern, m["model"], m["seed"]) for m in members]
            settings = TrainSettings.from_dict({**cfg["train"], "log_every": max(steps, 1)})
            batches = [batch_source(pattern, data[m["seed_index"]]["train"], settings.batch_size, m["seed"])
                       for m in members]
            c0 = time.process_time()
            with tempfile.TemporaryDirectory() as tmp:
                logs = train_stack(models, batches, settings, tmp, engine="loop", progress=False)
            cpu = time.process_time() - c0
            for m, model, log in zip(members, models, logs):
                right, total = accuracy(model, pattern, data[m["seed_index"]]["test"])
                row = {"steps": steps, "pattern": pattern, "seed_index": m["seed_index"],
                       "vanilla_accuracy": round(right / total, 4), "final_loss": round(log[-1]["loss"], 4),
                       "train_cpu_s_per_model": round(cpu / len(members), 1)}
                if pattern in ("ns", "cs"):
                    row["bayes_accuracy"] = round(oracle_accuracy(data[m["seed_index"]]["test"]), 4)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
