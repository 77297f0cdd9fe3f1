"""Check alt_attention's step counts on its BASELINES before any claim run (issue 15).

    python bench/calibrate_alt_attention.py [--seeds 1] [--gaam-steps 300] [--grid-steps 300] [--lm-steps 250]

Trains only the baseline of each block with the config's settings (step counts replaced when
given): attention pooling on both GAAM splits, noncausal softmax on the grid, MHA on the Markov
mixture; prints each against its competence gate (`experiments.alt_attention.competence`) and the
CPU time. GAAM, RCMHA, MDHA, RMHA, LightNet and the decay scans are never trained here.
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

from attnlab.alt_attention import plan, toys  # noqa: E402
from attnlab.claims import gap_closed  # noqa: E402
from attnlab.moh.reference import sequence_losses  # noqa: E402
from attnlab.tasks.markov import transition_matrices  # noqa: E402
from attnlab.tasks.synth import synthesize  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import batches_for, build_model  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402
from attnlab.train.stack import train_stack  # noqa: E402
from attnlab.train.trainer import TrainSettings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--gaam-steps", type=int)
    p.add_argument("--grid-steps", type=int)
    p.add_argument("--lm-steps", type=int)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(open(a.config))
    cfg, base = full["experiments"]["alt_attention"], full["base_seed"]
    bars = cfg["competence"]
    if a.gaam_steps:
        cfg["gaam"]["steps"] = a.gaam_steps
    if a.grid_steps:
        cfg["lightnet"]["steps"] = a.grid_steps
    cfg["lightnet"]["variants"] = ["softmax"]
    print("| block | baseline | steps | seed | metric | value | gate | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for s in range(a.seeds):
        c0 = time.process_time()
        for r in toys.run_gaam(cfg, base, s, heads=("attention",)):
            print(f"| gaam | attention pooling ({r['split']}) | {cfg['gaam']['steps']} | {s} | test accuracy | "
                  f"{r['acc']:.3f} | {'≥ ' + str(bars['attention_pool_stationary_acc']) if r['split'] == 'stationary' else '—'}"
                  f" | {time.process_time() - c0:.0f} |", flush=True)
        c0 = time.process_time()
        for r in toys.run_grid(cfg, base, s):
            print(f"| lightnet | noncausal softmax | {cfg['lightnet']['steps']} | {s} | per-cell accuracy | {r['acc']:.3f} | "
                  f"≥ {bars['softmax_grid_acc']} | {time.process_time() - c0:.0f} |", flush=True)
    r = cfg["rcmha"]
    tr = {**r["train"], "checkpoint_every": 0, **({"steps": a.lm_steps} if a.lm_steps else {})}
    settings = TrainSettings.from_dict(tr)
    params = [plan.train_params({**cfg, "rcmha": {**r, "train": tr}}, base, "mha", s) for s in range(a.seeds)]
    data = [(synthesize(**plan.synth_params(cfg, base, "train", s)), synthesize(**plan.synth_params(cfg, base, "val", s)))
            for s in range(a.seeds)]
    models = [build_model(q["model"], q["seed"]) for q in params]
    batches = [batches_for(d[0], settings, q["seed"]) for d, q in zip(data, params)]
    c0 = time.process_time()
    with tempfile.TemporaryDirectory() as work:
        train_stack(models, batches, settings, work, progress=False)
    cpu = time.process_time() - c0
    t = r["task"]
    for s, (model, (_, val)) in enumerate(zip(models, data)):
        P = transition_matrices(t["n_chains"], t["n_states"], t["concentration"], plan.chain_seed(base, s))
        ref = {k: float(v.mean()) for k, v in sequence_losses(val.input_ids, val.chain, P).items()}
        sc = score(model, SequenceData(val), 64)
        loss = float(sc.nll.sum() / sc.n_targets.sum())
        print(f"| rcmha | MHA | {tr['steps']} | {s} | share of the unigram-to-oracle gap closed | "
              f"{gap_closed(loss, ref['unigram'], ref['oracle']):.3f} | ≥ {bars['mha_gap_closed']} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
