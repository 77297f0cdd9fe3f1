"""Calibrate the circuits training steps on its baseline (the only model: softmax attention).

    python bench/calibrate_circuits.py --steps 500 1000 1500 [--seeds 1] [--lr 0.003]

Trains seed indices 0..seeds−1 of `experiments.circuits` (the config's model, data and train
settings, the steps replaced) as one stack on one thread, and prints the competence quantity: greedy
accuracy on the answer of each held-out task (IOI-lite, CO-lite, MCQ-lite; the gate
`competence.task_accuracy` reads the least of them) after each step count (one run: the models are
read at the listed steps, the schedule is that of the largest). No claim quantity (importance,
overlap, DLA, retention) is computed or printed: only competence.
"""

from __future__ import annotations

import torch
from stack_calibration import arguments, run

from attnlab.circuits import plan  # noqa: E402  (stack_calibration puts workflow/ on the path)


@torch.no_grad()
def accuracy(model, df) -> dict[str, float]:
    model.eval()
    out = {}
    for task, g in df[df.task != "markov_mixture"].groupby("task"):
        ids = torch.tensor(list(map(list, g.input_ids)))
        pos = torch.tensor(g.answer_pos.to_numpy().astype(int))
        pred = model(ids).logits[torch.arange(len(g)), pos - 1].argmax(-1)
        out[task] = float((pred == torch.tensor(g.answer.to_numpy())).float().mean())
    model.train()
    return out


def main() -> None:
    def report(step, s, model, ev, log):
        acc = accuracy(model, ev)
        print(f"step {step} seed {s}: answer accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
              + f" (least {min(acc.values()):.3f}), loss {log[-1]['loss']:.3f}", flush=True)

    run("circuits", plan, arguments(__doc__), report, eval_split="eval", title="softmax baseline")


if __name__ == "__main__":
    main()
