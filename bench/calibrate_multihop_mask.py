"""Calibrate the multihop_mask experiment's training on its BASELINE, the causal decoder (issue 14).

    python bench/calibrate_multihop_mask.py --steps 700 [--lr 0.003] [--batch-size 32] [--seeds 1] [--n-train N]

Trains the "causal" variant of `experiments.multihop_mask` (the config's model; the given steps,
lr, batch replace the config's) for seed indices 0..seeds−1 as one stack, one thread, and prints
its exact match per document order and the mean over orders (the learnability gate
`experiments.multihop_mask.competence.causal_em` reads this mean). Also prints the training wall
time (one thread; say what else ran). The prefix-bidirectional model is never run here.
"""

from __future__ import annotations

from stack_calibration import arguments, run

from attnlab.multihop_mask import plan  # noqa: E402  (stack_calibration puts workflow/ on the path)
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402


def main() -> None:
    def report(step, s, model, test, log):
        em = score(model, SequenceData(test), 150).groupby("order", sort=False).exact.mean()
        curve = " ".join(f"{r['step']}:{r['loss']:.2f}" for r in log[:: max(1, len(log) // 8)])
        print(f"seed {s}: causal EM mean over orders {em.mean():.3f} | "
              f"{' '.join(f'{o} {v:.2f}' for o, v in em.items())} | loss {curve}", flush=True)

    run("multihop_mask", plan, arguments(__doc__), report, eval_split="test", title="causal decoder",
        train_params=lambda cfg, base_seed, s: plan.train_params(cfg, base_seed, "causal", s))


if __name__ == "__main__":
    main()
