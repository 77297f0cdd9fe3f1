"""Calibrate the preplan_anchor training steps on its baseline (the only model: softmax attention).

    python bench/calibrate_preplan_anchor.py --steps 400 800 1200 [--seeds 1] [--lr 0.003]

Trains seed indices 0..seeds−1 of `experiments.preplan_anchor` (the config's model, data and train
settings, the steps replaced) as one stack on one thread, and prints the competence quantity
(greedy teacher-forced accuracy on result tokens of the held-out traces; the gate
`competence.result_accuracy`) and the accuracy on every trace token after each step count (trained
on in one run: checkpoints are read at the listed steps, the schedule is that of the largest).
No claim quantity (WAAD, FAI, enrichments) is computed or printed: only competence.
"""

from __future__ import annotations

import torch
from stack_calibration import arguments, run

from attnlab.preplan_anchor import plan  # noqa: E402  (stack_calibration puts workflow/ on the path)


@torch.no_grad()
def accuracy(model, df) -> tuple[float, float]:
    model.eval()
    right_r = n_r = right = n = 0
    for _, g in df.groupby("length"):
        ids = torch.tensor(list(map(list, g.input_ids)))
        pred = model(ids).logits[:, :-1].argmax(-1)
        ok = (pred == ids[:, 1:]).numpy()
        mask = torch.tensor(list(map(list, g.target_mask)))[:, 1:].numpy()
        lab = torch.tensor(list(map(list, g["labels"])))[:, 1:].numpy()
        res = mask & (lab >= 2)
        right_r, n_r = right_r + ok[res].sum(), n_r + res.sum()
        right, n = right + ok[mask].sum(), n + mask.sum()
    model.train()
    return right_r / n_r, right / n


def main() -> None:
    def report(step, s, model, ev, log):
        r, t = accuracy(model, ev)
        print(f"step {step} seed {s}: result accuracy {r:.3f}, all trace tokens {t:.3f}, loss {log[-1]['loss']:.3f}",
              flush=True)

    run("preplan_anchor", plan, arguments(__doc__), report, eval_split="eval", title="softmax baseline")


if __name__ == "__main__":
    main()
