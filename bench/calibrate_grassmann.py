"""Calibrate the grassmann experiment's training steps on its BASELINE, the Transformer (issue 15).

    python bench/calibrate_grassmann.py --steps 400 800 [--seeds 1] [--lr 0.003] [--config config/config.yaml]

For each step count: trains the "transformer" variant of `experiments.grassmann` (the config's
model, data and train settings, `train.steps` replaced) for seed indices 0..seeds−1 as one stack,
one thread, and scores it on the seed's validation file beside the task's reference losses
(attnlab.moh.reference): unigram, chain-agnostic bigram, Bayes and the Markov oracle. Prints the
share of the unigram-to-oracle gap the Transformer closes (the competence gate is
`experiments.grassmann.competence.transformer_gap_closed`) and the training wall and CPU time.

Only the Transformer is trained here: the Grassmann model is never seen before the steps are frozen.
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

from attnlab.claims import gap_closed  # noqa: E402
from attnlab.grassmann import plan  # noqa: E402
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
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--lr", type=float)
    p.add_argument("--variant", default="transformer", choices=["transformer"],
                   help="only the baseline is calibrated")
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    a = p.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(open(a.config))
    cfg, base_seed = full["experiments"]["grassmann"], full["base_seed"]
    t = cfg["task"]
    print(f"grassmann calibration: task {t}, model {cfg['model']}, batch {cfg['train']['batch_size']}, "
          f"lr {a.lr or cfg['train']['lr']}, seeds {a.seeds}")
    print("| steps | seed | Transformer val loss | unigram | bigram | Bayes | oracle | gap closed (unigram→oracle) "
          "| gap closed (bigram→oracle) | train wall s (CPU s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    data = []
    for s in range(a.seeds):
        train = synthesize(**plan.synth_params(cfg, base_seed, "train", s))
        val = synthesize(**plan.synth_params(cfg, base_seed, "val", s))
        P = transition_matrices(t["n_chains"], t["n_states"], t["concentration"], plan.chain_seed(base_seed, s))
        ref = {k: float(v.mean()) for k, v in sequence_losses(val.input_ids, val.chain, P).items()}
        data.append((train, val, ref))
    for steps in a.steps:
        tr = {**cfg["train"], "steps": steps, "checkpoint_every": 0, **({"lr": a.lr} if a.lr else {})}
        settings = TrainSettings.from_dict(tr)
        params = [plan.train_params({**cfg, "train": tr}, base_seed, a.variant, s) for s in range(a.seeds)]
        models = [build_model(q["model"], q["seed"]) for q in params]
        batches = [batches_for(d[0], settings, q["seed"]) for d, q in zip(data, params)]
        t0, c0 = time.perf_counter(), time.process_time()
        with tempfile.TemporaryDirectory() as work:
            train_stack(models, batches, settings, work, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for s, (model, (_, val, ref)) in enumerate(zip(models, data)):
            sc = score(model, SequenceData(val), 64)
            loss = float(sc.nll.sum() / sc.n_targets.sum())
            print(f"| {steps} | {s} | {loss:.4f} | {ref['unigram']:.4f} | {ref['bigram']:.4f} | {ref['bayes']:.4f} "
                  f"| {ref['oracle']:.4f} | {gap_closed(loss, ref['unigram'], ref['oracle']):.3f} "
                  f"| {gap_closed(loss, ref['bigram'], ref['oracle']):.3f} | {wall:.0f} ({cpu:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
