"""Calibrate the circuits training steps on its baseline (the only model: softmax attention).

    python bench/calibrate_circuits.py --steps 500 1000 1500 [--seeds 1] [--lr 0.003] [--set KEY=VALUE ...]
        [--only cobj] [--score-train]

Trains seed indices 0..seeds−1 of `experiments.circuits` (the config's model, data and train
settings, the steps replaced) as one stack on one thread, and prints the competence quantity: greedy
accuracy on the answer of each held-out task (IOI-lite, CO-lite, MCQ-lite; the gate
`competence.task_accuracy` reads the least of them) after each step count (one run: the models are
read at the listed steps, the schedule is that of the largest). No claim quantity (importance,
overlap, DLA, retention) is computed or printed: only competence.

--only TASK...: train on those tasks alone (ioi, cobj, mcq, markov_mixture; n_train split evenly
among them) and score them alone, a diagnostic off the spec. --score-train: also score the first 200
training sequences of each task (memorising the training set against learning the rule).

Before training it prints the shortcut check (model-free, on the held-out prompts of seed index 0):
the accuracy of answering by a position cue (IOI-lite: the first / second name; CO-lite: the colour
of the k-th pair; MCQ-lite: the label of the k-th option), by a token-frequency cue (the answer
most frequent in the training data for the prompt's query object / the most frequent answer label,
restricted to the tokens in the prompt), against chance (1/2, 1/3, 1/3).
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


def shortcuts(train, ev) -> dict[str, float]:
    """Model-free answers (see the module docstring): accuracy of each cue on the held-out prompts."""
    import numpy as np

    out = {}
    g = ev[ev.task == "ioi"]
    for k, pos in (("first name", 1), ("second name", 3)) if len(g) else ():
        out[f"ioi: {k}"] = float(np.mean([s[pos] == a for s, a in zip(g.input_ids, g.answer)]))
    for task in (t for t in ("cobj", "mcq") if (ev.task == t).any()):
        g, tr = ev[ev.task == task], train[train.task == task]
        slots = (1, 3, 5) if task == "cobj" else (10, 12, 14)
        for k, pos in enumerate(slots):
            out[f"{task}: slot {k + 1}"] = float(np.mean([s[pos] == a for s, a in zip(g.input_ids, g.answer)]))
        # frequency cue: per query object (cobj) or overall (mcq), the training answer seen most often
        key = (lambda s: int(s[8])) if task == "cobj" else (lambda s: 0)
        counts: dict = {}
        for s, a in zip(tr.input_ids, tr.answer):
            counts.setdefault(key(s), {}).setdefault(int(a), 0)
            counts[key(s)][int(a)] += 1
        hits = []
        for s, a, f in zip(g.input_ids, g.answer, g.foils):
            cands = [int(a), *map(int, f)]
            c = counts.get(key(s), {})
            hits.append(max(cands, key=lambda x: (c.get(x, 0), -cands.index(x))) == a)
        out[f"{task}: most frequent training answer"] = float(np.mean(hits))
    return out


def main() -> None:
    import yaml
    from stack_calibration import set_key

    from attnlab.tasks.synth import synthesize

    a = arguments(__doc__, extra=lambda p: (
        p.add_argument("--only", nargs="+", choices=("ioi", "cobj", "mcq", "markov_mixture")),
        p.add_argument("--score-train", action="store_true")))
    if a.only:  # a diagnostic: the plan's parts restricted to these tasks
        full_synth = plan.synth_params

        def synth_params(cfg, base_seed, split, seed):
            p = full_synth(cfg, base_seed, split, seed)
            p["parts"] = [q for q in p["parts"] if q["task"] in a.only]
            if split == "train":
                for q in p["parts"]:
                    q["n"] = cfg["n_train"] // len(p["parts"])
            return p

        plan.synth_params = synth_params
    full = yaml.safe_load(open(a.config))
    cfg = dict(full["experiments"]["circuits"])
    for assignment in a.set:
        set_key(cfg, assignment)
    cfg["n_train"] = a.n_train or cfg["n_train"]
    tr, ev = (synthesize(**plan.synth_params(cfg, full["base_seed"], split, 0)) for split in ("train", "eval"))
    print("shortcut check (held-out prompts, seed index 0): "
          + ", ".join(f"{k} {v:.3f}" for k, v in shortcuts(tr, ev).items()), flush=True)

    seen = tr.groupby("task").head(200) if a.score_train else None

    def report(step, s, model, ev, log):
        acc = accuracy(model, ev)
        line = (f"step {step} seed {s}: answer accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
                + f" (least {min(acc.values()):.3f}), loss {log[-1]['loss']:.3f}")
        if seen is not None and s == 0:
            line += "; on training sequences " + ", ".join(f"{k} {v:.3f}" for k, v in accuracy(model, seen).items())
        print(line, flush=True)

    run("circuits", plan, a, report, eval_split="eval", title="softmax baseline")


if __name__ == "__main__":
    main()
