"""Calibrate retrieval_heads' step count on ONE seed (issue 13), before any claim seed runs.

The model of config/config.yaml's retrieval_heads block (standard softmax attention) is trained on
the experiment's needle task (shared haystack vocabulary, distractor needles) at the config's
train lengths, from FRESH data: every optimizer step gets `batch_size` newly generated sequences,
none repeated, seeded apart from the claim runs' data. NIAH exact match (the whole value right,
teacher-forced argmax = greedy, as the analysis scores it) is measured on held-out sequences at
the config's test lengths x depths every `--every` steps. Each step count in `--steps` is its own
run with its own warm-up + cosine schedule; the answer is the smallest count whose FINAL model
reaches the competence bar (experiments.retrieval_heads.competence.niah_accuracy).

Before training it prints the task's shortcut baselines (attnlab.retrieval_heads.shortcuts):
predictors that read needle positions or token types but never match the key, on data like each
part of the training mixture (plan.train_parts) and like the held-out suite.

    python bench/calibrate_retrieval_heads.py --steps 600 900
    python bench/calibrate_retrieval_heads.py --steps 400 --set train_queries=3 train.lr=0.01

Training sequences end in `train_queries` queries of distinct needles (config key
experiments.retrieval_heads.train_queries, default 1; attnlab.tasks.recall.needle's n_queries);
held-out sequences in one, as the analysis's test suite. With `train_distractors` (a list of distractor
counts, e.g. `--set 'train_distractors=[0, 3]'`) the training pool is that mixture in equal parts
(plan.train_parts), the held-out suite keeps needle.n_distractors; `train_shared_vocab` (e.g. `--set 'train_shared_vocab=[false, true]'`)
mixes haystack vocabularies the same way (plan.train_parts); `train_repeat_span` (e.g. `--set train_repeat_span=8`)
adds a repeated haystack span whose copy is a target to every training sequence. The loop is bench/lm_calibration.py's,
shared with calibrate_meta_tokens.py.

One thread, one process. Wall times are as measured (say what else was running when recording).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "bench"))

from lm_calibration import set_key, smallest_reaching, train_and_score  # noqa: E402

from attnlab.retrieval_heads import plan  # noqa: E402
from attnlab.retrieval_heads.shortcuts import answer_elsewhere, shortcut_baselines  # noqa: E402
from attnlab.seeds import derive_seed  # noqa: E402
from attnlab.tasks import TASKS  # noqa: E402
from attnlab.train.data import SequenceData  # noqa: E402
from attnlab.train.lm import build_model  # noqa: E402
from attnlab.train.scoring import score  # noqa: E402


def calibrate_one(cfg: dict, base_seed: int, steps: int, every: int, n_eval: int, seed_index: int) -> list[dict]:
    params = plan.train_params(cfg, base_seed, seed_index)
    seed = derive_seed(base_seed, "calibrate_retrieval_heads", seed_index)
    depths = plan.train_depths(cfg)
    parts = plan.train_parts(cfg)
    n_per = -(-steps * params["train"]["batch_size"] // (len(cfg["train_lengths"]) * len(depths) * len(parts)))
    # part 0 keeps the seed of the one-part pools recorded in bench/README.md
    pool = pd.concat([TASKS["needle"].generate(n_per, derive_seed(seed, "train", i) if i else derive_seed(seed, "train"),
                                               **{k: v for k, v in part.items() if k != "n"})
                      for i, part in enumerate(parts)], ignore_index=True)
    pool = pool.sample(frac=1.0, random_state=seed % 2**32).reset_index(drop=True)
    held = TASKS["needle"].generate(n_eval, derive_seed(seed, "eval"), lengths=cfg["test_lengths"],
                                    depths=cfg["test_depths"], **cfg["needle"])
    model = build_model(params["model"], params["seed"])

    def scorer(m) -> dict:
        sc = score(m, SequenceData(held), 100)
        return {"niah": float(sc.exact.mean()), "token_acc": float(sc.token_acc.mean()),
                **{f"niah@{n}": float(g.exact.mean()) for n, g in sc.groupby("seq_len")}}

    return train_and_score(model, pool, params["train"], steps, every, scorer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--steps", type=int, nargs="+", required=True, help="step counts, one run each")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML",
                    help="override keys of experiments.retrieval_heads, e.g. train.lr=0.003 model.n_embd=64")
    ap.add_argument("--every", type=int, default=100, help="score the model every N steps")
    ap.add_argument("--n-eval", type=int, default=20, help="held-out sequences per (length, depth)")
    ap.add_argument("--seed-index", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    full = yaml.safe_load(Path(a.config).read_text())
    cfg = copy.deepcopy(full["experiments"]["retrieval_heads"])
    for assignment in a.set:
        set_key(cfg, assignment)
    bar = cfg["competence"]["niah_accuracy"]
    n, m, t = cfg["needle"], cfg["model"], cfg["train"]
    q = cfg.get("train_queries", 1)
    print(f"retrieval_heads calibration: needle {n}, train_queries {q}, train_distractors {cfg.get('train_distractors', '-')}, train_shared_vocab {cfg.get('train_shared_vocab', '-')}, train_repeat_span {cfg.get('train_repeat_span', 0)}, train lengths {cfg['train_lengths']}, "
          f"test lengths {cfg['test_lengths']} x depths {cfg['test_depths']}, model {m}, batch {t['batch_size']}, "
          f"lr {t['lr']}, warmup {t['warmup_steps']}, fresh data, {a.n_eval} held-out needles per cell, torch threads 1")
    # one line per training part (a mixture's parts differ in distractors or haystack vocabulary), one for the test suite
    train = plan.train_parts(cfg)
    parts = [(f"train part {i} ({', '.join(f'{s} {p[s]}' for s in plan.MIXTURES.values())})"
              if len(train) > 1 else "train", {k: v for k, v in p.items() if k != "n"})
             for i, p in enumerate(train)]
    parts.append(("test", {"lengths": cfg["test_lengths"], "depths": cfg["test_depths"], **n}))
    for name, kwargs in parts:
        nq = kwargs.get("n_queries", 1)
        df = TASKS["needle"].generate(40, 99, **kwargs)
        vm = kwargs.get("value_marker", True)
        sb = shortcut_baselines(df, kwargs["key_len"], kwargs["value_len"], value_marker=vm)
        print(f"shortcut baselines on {name}-like data ({len(df)} sequences, {nq} quer{'y' if nq == 1 else 'ies'} "
              "each, exact match per query): " + ", ".join(f"{k} {v:.3f}" for k, v in sb.items())
              + f"; answer tokens found elsewhere in the sequence: "
              f"{answer_elsewhere(df, kwargs['key_len'], kwargs['value_len'], vm):.2f}")
    results = []
    for steps in a.steps:
        print(f"run of {steps} steps:", flush=True)
        results += calibrate_one(cfg, full["base_seed"], steps, a.every, a.n_eval, a.seed_index)
    finals = [r for r in results if r["step"] == r["run_steps"]]
    print("final models: " + "; ".join(f"{r['run_steps']} steps: NIAH {r['niah']:.3f}, {r['train_cpu_s']} CPU s"
                                       for r in finals))
    print(f"smallest step count reaching NIAH exact match >= {bar}: {smallest_reaching(results, 'niah', bar)}")


if __name__ == "__main__":
    main()
