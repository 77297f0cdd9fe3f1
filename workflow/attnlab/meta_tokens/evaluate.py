"""Evaluate every meta-token run at each test length and check the spec's claim over seeds.

Accuracy: fraction of test sequences whose whole answer (every target token) is predicted exactly,
argmax given the true prefix; token accuracy gives partial credit. Runs trained with meta-tokens
see them in the test sequences too, inserted at the training rate (never as targets).
"""

from __future__ import annotations

import time

import pandas as pd
from transformers import AutoModelForCausalLM

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.claims import ClaimSet, Competence
from attnlab.cli import StepArgs, run_step
from attnlab.meta_tokens import PAPER
from attnlab.runs import iter_runs, write_evaluation
from attnlab.seeds import derive_seed
from attnlab.train.data import SequenceData, insert_meta_tokens
from attnlab.train.scoring import score

GAIN = 0.10  # shared/papers/meta_tokens.md: meta-tokens ≥ +10 points over the baseline at 2× length
CLAIM_VARIANTS = ("baseline", "meta")  # the variants the claim compares; each must have learned the task
GATE_METRIC = "exact match at the training length (the lower of baseline and meta), held-out data"
DATA_COLUMNS = ("input_ids", "target_mask", "seq_len")  # SequenceData's and the per-length grouping's


def evaluate_all(manifest: list[dict], batch_size: int) -> pd.DataFrame:
    rows = []
    for run in iter_runs(manifest, data=SequenceData, data_columns=DATA_COLUMNS):
        item = run.item
        model = AutoModelForCausalLM.from_pretrained(run.dir).eval()
        rate = item["meta_rate"]
        s = score(model, run.data, batch_size, transform=insert_meta_tokens(rate) if rate > 0 else None,
                  seed=derive_seed(item["seed"], "eval"))
        for length, g in s.groupby("seq_len"):
            rows.append({**run.keys("task", "variant", "seed_index", "seed"), "seq_len": int(length),
                         "accuracy": float(g.exact.mean()),
                         "token_accuracy": float(g.n_correct.sum() / g.n_targets.sum()),
                         "loss": float(g.nll.sum() / g.n_targets.sum()),
                         "final_train_loss": run.final_train_loss, "train_wall_s": run.train_wall_s})
    return pd.DataFrame(rows)


def competence(metrics: pd.DataFrame, *, task: str, train_len: int, seeds, bar: float) -> Competence:
    """The gate of the claims: on each seed, in-distribution exact match at the training length of
    the weaker of baseline and meta. A gap at 2× the length says nothing about meta-tokens when
    either model never learned list recall at the length it was trained on (issue 13)."""
    own = metrics[(metrics.task == task) & (metrics.seq_len == train_len)]
    values = {}
    for s in seeds:
        got = own[own.seed_index == s].set_index("variant").accuracy
        values[int(s)] = (float(min(got[v] for v in CLAIM_VARIANTS))
                          if all(v in got.index for v in CLAIM_VARIANTS) else None)
    return Competence(GATE_METRIC, bar, values)


def check_claims(metrics: pd.DataFrame, *, task: str, train_len: int, scale: str, bar: float) -> list[dict]:
    """The spec's claim (meta − baseline ≥ +10 points at 2× the training length, every seed), gated
    on competence at the training length (`bar`, config experiments.meta_tokens.competence.exact_match).
    A substitute: small models trained from scratch on synthetic list recall stand in for the
    paper's GPT-2-scale models pre-trained on C4 and fine-tuned."""
    L = 2 * train_len
    at = metrics[(metrics.task == task) & (metrics.seq_len == L)]
    seeds = [int(s) for s in sorted(metrics.seed_index.unique())]
    gate = competence(metrics, task=task, train_len=train_len, seeds=seeds, bar=bar)
    claims = ClaimSet("meta_tokens", PAPER, scale=scale, seeds=seeds, substitute=True, competence=gate)
    claim = f"Meta-tokens + meta-attention improve {task} at 2× the training length ({train_len} → {L})"
    threshold = f"meta − baseline ≥ +{GAIN * 100:.0f} pts on every seed"
    if at.empty or not {"meta", "baseline"} <= set(at.variant):
        claims.add(kind="paper", claim=claim, metric=f"{task} exact-match accuracy at length {L}",
                   threshold=threshold, paper_value="list recall 92.9–100%",
                   measured=f"not measured: needs variants baseline and meta tested on {task} at length {L}",
                   per_seed_pass=[None] * len(seeds))
    else:
        acc = at.set_index(["variant", "seed_index"]).accuracy
        base = {int(s): float(acc["baseline"][s]) for s in seeds}
        meta = {int(s): float(acc["meta"][s]) for s in seeds}
        claims.add(
            kind="paper",
            claim=claim, metric=f"{task} exact-match accuracy at length {L}", threshold=threshold,
            paper_value="list recall 92.9–100% up to 8k tokens (with YaRN); no baseline figure at 2×",
            measured="; ".join(f"seed {s}: meta {meta[s]:.3f}, baseline {base[s]:.3f} ({meta[s] - base[s]:+.3f})"
                               for s in seeds),
            per_seed_pass=[meta[s] - base[s] >= GAIN for s in seeds],
            per_seed_values={"meta": meta, "baseline": base,
                             f"competence (exact at {train_len})": {s: gate.value(s) for s in seeds}})
    claims.not_reproduced("Meta-token pre-training is data-efficient (< 100B tokens of C4)",
                          why="needs C4 and GPT-2-scale pre-training; no corpus can be downloaded here", kind="paper")
    claims.not_reproduced("Generalisation to 8k tokens after YaRN extension; PG19 perplexity 14.79 vs 16.13",
                          why="YaRN context extension and PG19 are not part of this mini-scale reproduction",
                          kind="paper")
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    metrics = evaluate_all(p["manifest"], p["eval_batch_size"])
    claims = check_claims(metrics, task=p["claim_task"], train_len=p["train_len"], scale=p["scale"],
                          bar=p["competence"]["exact_match"])
    write_evaluation(args, "meta_tokens", claims, {"metrics": metrics}, started=t0,
                     work_s=metrics.groupby(["task", "variant", "seed_index"]).train_wall_s.first().sum())


if __name__ == "__main__":
    run_step(main, description=__doc__)
