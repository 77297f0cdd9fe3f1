"""Calibrate icl_regression's training steps on the H=2 softmax model (issue 13).

    python bench/calibrate_icl_regression.py --steps 8000 16000 [--seeds 4] [--first 0] [--heads 2] [--every 1000]

For each step count: trains `--seeds` calibration seeds of the softmax model with `--heads` heads
(the config's d, L_train, σ², batch and lr; Adam with cosine decay over the whole run, as the
workflow trains) as one stack, one thread. The calibration seeds are derived with the label
"calibration", so none of them is a claim seed. Prints per seed, every `--every` steps, the
zero-sum |Σ_h μ_h| / Σ_h |μ_h| (multi-head solution: < 0.05, the spec's criterion), and at the
end the test MSE at L_train on 2000 fresh prompts, the MSE of predicting 0 and of ridge (λ = σ²d),
and the share of the zero-to-ridge gap the model closes (the competence gate's metric,
`experiments.icl_regression.competence.gap_closed`). Wall and CPU time of the training (one
thread; CPU time is the contention-free estimate).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from attnlab.claims import gap_closed  # noqa: E402
from attnlab.icl_regression.evaluate import mse, predict  # noqa: E402
from attnlab.icl_regression.model import ov_vector  # noqa: E402
from attnlab.icl_regression.patterns import zero_sum  # noqa: E402
from attnlab.icl_regression.ridge import bayes_lambda, ridge_predict  # noqa: E402
from attnlab.icl_regression.synth import sample_prompts  # noqa: E402
from attnlab.icl_regression.train import build_model, train_stacked  # noqa: E402
from attnlab.seeds import derive_seed  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--first", type=int, default=0, help="index of the first calibration seed")
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    root = yaml.safe_load(open(a.config))
    cfg, base = root["experiments"]["icl_regression"], root["base_seed"]
    d, L, var = cfg["dims"][0], cfg["train_length"], cfg["noise_var"]
    run = {"mechanism": "softmax", "heads": a.heads}
    x, y, _ = sample_prompts(np.random.default_rng(derive_seed(base, "icl_regression", "calibration-test")),
                             2000, L, d, var)
    zero_mse, ridge_mse = mse(np.zeros(len(y)), y), mse(ridge_predict(x, y, bayes_lambda(var, d)), y)
    print(f"d={d} L={L} σ²={var} batch={cfg['batch_size']} lr={cfg['lr']} H={a.heads}; test MSE of 0: "
          f"{zero_mse:.3f}, ridge: {ridge_mse:.3f}", flush=True)
    for steps in a.steps:
        seeds = [derive_seed(base, "icl_regression", "calibration", f"h{a.heads}", i)
                 for i in range(a.first, a.first + a.seeds)]
        models = [build_model(d, run, L, s) for s in seeds]
        trace = {i: [] for i in range(a.seeds)}

        def on_log(step, stack, trace=trace):
            with torch.no_grad():
                mu = ov_vector(stack["w_o"], stack["w_v"])[..., d].double().numpy()  # (seed, H)
            for i in range(a.seeds):
                trace[i].append((step, zero_sum(mu[i])))

        t0, c0 = time.perf_counter(), time.process_time()
        train_stacked(models, steps=steps, batch_size=cfg["batch_size"], lr=cfg["lr"], noise_var=var,
                      seeds=seeds, log_every=a.every, on_log=on_log)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"\n## {steps} steps, {a.seeds} seeds: train wall {wall:.0f} s, CPU {cpu:.0f} s "
              f"({cpu / a.seeds / steps * 1000:.2f} ms CPU per seed-step)", flush=True)
        reached = 0
        for i, m in enumerate(models):
            m_mse = mse(predict(m, x, y), y)
            zs = trace[i][-1][1]
            reached += zs < 0.05
            path = " ".join(f"{s // 1000}k:{z:.2f}" for s, z in trace[i])
            print(f"seed {a.first + i}: MSE@{L} {m_mse:.3f}, gap closed {gap_closed(m_mse, zero_mse, ridge_mse):.3f}, "
                  f"zero-sum {zs:.3f} ({'multi-head' if zs < 0.05 else 'single-head'}); zero-sum by step: {path}",
                  flush=True)
        print(f"multi-head solution reached on {reached}/{a.seeds} seeds at {steps} steps", flush=True)


if __name__ == "__main__":
    main()
