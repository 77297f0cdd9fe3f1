"""The VLM-world data at the config's `vlm.data` settings: generation speed and the shortcut check.

    python bench/vlm_data_check.py [--config config/config.yaml] [--seed 0] [--n-train N] [--n-test N]

Prints
- rows per CPU-second and per wall-second (with the load average: wall is meaningless on a busy
  machine), image rows and text-only rows separately;
- the co-occurrence prior as measured on the training scenes (P(c(o) | o) and the coin frequency);
- POPE yes-ratio per split (0.5 by construction);
- question-only baselines, i.e. what a model that never sees the image could get: per POPE split,
  the accuracy of predicting, for each asked type, the answer that is most frequent for it in the
  training existence questions (a blind model trained on our data), and the same rule fitted on
  the test split itself (an upper bound of any question-only cue); per VQA question text, the
  majority training answer applied to test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from attnlab.vlm import data as D  # noqa: E402


def majority_rule(keys, answers):
    table: dict = {}
    for k, a in zip(keys, answers):
        table.setdefault(k, Counter())[a] += 1
    return {k: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for k, c in table.items()}


def apply_rule(rule, keys, answers, default):
    return sum(rule.get(k, default) == a for k, a in zip(keys, answers)) / max(len(answers), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=None, help="override vlm.data.n.train")
    ap.add_argument("--n-test", type=int, default=None, help="override vlm.data.n.test")
    args = ap.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())["vlm"]["data"]
    n_train = args.n_train if args.n_train is not None else cfg["n"]["train"]
    n_test = args.n_test if args.n_test is not None else cfg["n"]["test"]
    prior = D.make_prior(args.seed, cfg["prior_strength"])
    print(f"prior_strength {prior.strength}, hubs {', '.join(prior.hubs)}")

    c0, w0 = time.process_time(), time.time()
    out = D.synthesize(args.seed, prior, n_train=n_train, n_dev=0, n_test=n_test,
                       causal_fraction=cfg["causal_fraction"], max_subjects=cfg["max_subjects"])
    cpu, wall = time.process_time() - c0, time.time() - w0
    rows = sum(len(f) for f in out.values())
    img = sum(int(f.image.notna().sum()) for f in out.values())
    print(f"{rows} rows ({img} with images, {rows - img} text-only): {rows / cpu:.0f} rows per CPU-second, "
          f"{rows / wall:.0f} per wall-second (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")

    train, test = out["train"], out["test"]
    scenes = [D.scene_of(r) for r in train[train.stage == "A"].itertuples()]
    follows = eligible = raw = present = 0
    for s in scenes:
        types = D.present_types(s)
        for i, t in enumerate(types):
            c = prior.companion.get(t)
            if c is None:
                continue
            present += 1
            raw += c in types
            if c not in types[:i]:
                eligible += 1
                follows += c in types[i + 1:]
    print(f"prior on {len(scenes)} stage-A scenes: coin frequency {follows / eligible:.3f}, "
          f"P(c(o) | o) {raw / present:.3f}; prior-violating scenes {train.prior_violating.mean():.2f}")
    freq = D.type_frequencies(scenes)
    print("type frequency (hubs *): " + ", ".join(f"{t}{'*' if t in prior.hubs else ''} {f:.2f}"
                                                  for t, f in sorted(freq.items(), key=lambda kv: -kv[1])))

    ex_tr = train[train.task == "existence"]
    key = lambda df: df.prompt.str.replace("<image> ", "", regex=False)  # noqa: E731
    blind = majority_rule(key(ex_tr), ex_tr.answer)
    print("POPE (test): split, yes-ratio, question-only accuracy (rule fitted on train | on test itself)")
    ex = test[test.task == "existence"]
    for split in D.POPE_SPLITS:
        e = ex[ex.pope_split == split]
        oracle = majority_rule(key(e), e.answer)
        print(f"  {split:12s} {(e.answer == 'yes').mean():.3f}  {apply_rule(blind, key(e), e.answer, 'no'):.3f} | "
              f"{apply_rule(oracle, key(e), e.answer, 'no'):.3f}  (n {len(e)})")
    hub_no = {split: ((ex[ex.pope_split == split].prompt.str.contains("|".join(prior.hubs)))
                      == (ex[ex.pope_split == split].answer == "no")).mean() for split in D.POPE_SPLITS}
    print("  'asked type is a hub -> no' rule: " + ", ".join(f"{k} {v:.3f}" for k, v in hub_no.items()))

    vq_tr = train[(train.stage == "S") & train.task.isin(["attribute", "hidden_identity"])]
    vq = test[test.task.isin(["attribute", "hidden_identity"])]
    rule = majority_rule(key(vq_tr), vq_tr.answer)
    print("VQA (test): question-only accuracy (majority training answer per question text)")
    for kind, g in vq.groupby(vq.question.where(vq.question != "", vq.task)):
        print(f"  {kind:16s} {apply_rule(rule, key(g), g.answer, ''):.3f}  (n {len(g)})")


if __name__ == "__main__":
    main()
