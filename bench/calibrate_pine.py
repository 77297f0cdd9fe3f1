"""Calibrate the pine experiment's training on its BASELINE, the vanilla causal rope LM (issue 14).

    python bench/calibrate_pine.py --steps 800 [--lr 0.003] [--batch-size 32] [--seeds 1] [--n-train 20000]

Trains the vanilla rope model of `experiments.pine` (the config's model; the given steps, lr, batch
replace the config's) for seed indices 0..seeds−1 as one stack, one thread, and prints its held-out
accuracy by gold-document position with ordinary (vanilla) inference — the competence gate
`experiments.pine.competence.vanilla_accuracy` reads the mean — and the position spread. Also
prints the training wall time (one thread; say what else ran). No PINE or other variant is run:
steps are frozen before any variant is seen.
"""

from __future__ import annotations

from stack_calibration import arguments, run

from attnlab.pine import plan  # noqa: E402  (stack_calibration puts workflow/ on the path)
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402


def main() -> None:
    def report(step, s, model, test, log):
        by_pos = score(model, SequenceData(test), 200).groupby("gold_position").token_acc.mean()
        curve = " ".join(f"{r['step']}:{r['loss']:.2f}" for r in log[:: max(1, len(log) // 8)])
        print(f"seed {s}: vanilla accuracy mean {by_pos.mean():.3f}, spread {100 * (by_pos.max() - by_pos.min()):.1f} "
              f"points | by position {' '.join(f'{v:.2f}' for v in by_pos)} | loss {curve}", flush=True)

    run("pine", plan, arguments(__doc__), report, eval_split="test", title="vanilla rope LM")


if __name__ == "__main__":
    main()
