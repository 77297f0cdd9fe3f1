"""Calibrate the soft_injection training steps on its baseline (the only model: softmax attention).

    python bench/calibrate_soft_injection.py --steps 400 800 1200 [--seeds 1] [--lr 0.003]

Trains seed indices 0..seeds−1 of `experiments.soft_injection` (the config's model, data and train
settings, the steps replaced) as one stack on one thread, and prints the competence quantity
(greedy accuracy of N-shot ICL on the held-out noisy test prompts; the gate
`competence.icl_accuracy`) and the 0-shot accuracy on the same queries (the spec's I1 gate reads
ICL against 2 × 0-shot) after each step count (one run: the models are read at the listed steps,
the schedule is that of the largest). No claim quantity (injection, transfer) is computed or
printed: only competence.
"""

from __future__ import annotations

import torch
from stack_calibration import arguments, run

from attnlab.soft_injection import plan  # noqa: E402  (stack_calibration puts workflow/ on the path)


@torch.no_grad()
def accuracy(model, ev, n_tasks: int) -> tuple[float, float]:
    """(N-shot ICL, 0-shot) accuracy over the test parts of the eval file, mean over tasks."""
    from attnlab.soft_injection.analyse import tensors, zero_shot

    model.eval()
    icl, zero = [], []
    for part in range(2 * n_tasks, 3 * n_tasks):
        ids, pred, ans = tensors(ev[ev.part == part])
        rows = torch.arange(len(pred))
        icl.append(float((model(ids).logits[rows, pred].argmax(-1) == ans).float().mean()))
        ids0, pred0 = zero_shot(ids, pred)
        zero.append(float((model(ids0).logits[rows, pred0].argmax(-1) == ans).float().mean()))
    model.train()
    return sum(icl) / len(icl), sum(zero) / len(zero)


def main() -> None:
    def report(step, s, model, ev, log):
        icl, zero = accuracy(model, ev, int(ev.task_id.max()) + 1)
        print(f"step {step} seed {s}: ICL accuracy {icl:.3f}, 0-shot {zero:.3f} (ICL / 0-shot {icl / zero:.2f}), "
              f"loss {log[-1]['loss']:.3f}", flush=True)

    run("soft_injection", plan, arguments(__doc__), report, eval_split="eval", title="softmax baseline")


if __name__ == "__main__":
    main()
