"""Evaluate every dynamic-mask-attention run on MQAR and check the spec's claim over seeds.

Accuracy: fraction of query values predicted exactly (argmax given the true prefix), per (variant,
seed, K, length). The claim reads the mean over K at length 4w.

Competence gate: a seed counts only when its MHA model reaches `competence.mha_accuracy` at the
training length (mean over the tested K): the task is learnt in distribution by the baseline.
"""

from __future__ import annotations

import time

import pandas as pd
from transformers import AutoModelForCausalLM

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.claims import ClaimSet, Competence
from attnlab.cli import StepArgs, run_step
from attnlab.dynamic_mask import PAPER
from attnlab.runs import iter_runs, write_evaluation
from attnlab.train.data import SequenceData
from attnlab.train.scoring import score

# Thresholds of the claim check in shared/papers/dynamic_mask.md (accuracy points as fractions).
VS_MHA = -0.03  # DMA ≥ MHA − 3 points
VS_SWA = 0.20  # DMA ≥ sliding window + 20 points
DATA_COLUMNS = ("input_ids", "target_mask", "n_pairs", "seq_len")  # SequenceData's and the grouping's


def evaluate_all(manifest: list[dict], batch_size: int) -> pd.DataFrame:
    rows = []
    for run in iter_runs(manifest, data=SequenceData, data_columns=DATA_COLUMNS):
        model = AutoModelForCausalLM.from_pretrained(run.dir).eval()
        s = score(model, run.data, batch_size)
        for (k, length), g in s.groupby(["n_pairs", "seq_len"]):
            rows.append({**run.keys("variant", "seed_index", "seed"), "n_pairs": int(k), "seq_len": int(length),
                         "accuracy": float(g.n_correct.sum() / g.n_targets.sum()),
                         "loss": float(g.nll.sum() / g.n_targets.sum()),
                         "final_train_loss": run.final_train_loss, "train_wall_s": run.train_wall_s})
    return pd.DataFrame(rows)


def competence(metrics: pd.DataFrame, *, train_len: int, bar: float, seeds) -> Competence:
    """MHA's MQAR accuracy at the training length (mean over K), per seed: NaN where not measured."""
    mha = metrics[(metrics.variant == "mha") & (metrics.seq_len == train_len)]
    acc = mha.groupby("seed_index").accuracy.mean()
    return Competence(f"MHA MQAR accuracy at the training length {train_len} (mean over K, in distribution)", bar,
                      {int(s): float(acc[s]) if s in acc.index else None for s in seeds})


def check_claims(metrics: pd.DataFrame, *, window: int, train_len: int, bar: float, scale: str) -> list[dict]:
    L = 4 * window
    at = metrics[metrics.seq_len == L]
    need = {"mha", "swa", "dma"}
    seeds = [int(s) for s in sorted(metrics.seed_index.unique())]
    gate = competence(metrics, train_len=train_len, bar=bar, seeds=seeds)
    claims = ClaimSet("dynamic_mask", PAPER, scale=scale, seeds=seeds, competence=gate)
    claim = (f"DMA matches multi-head attention and beats sliding-window attention of the same window "
             f"on MQAR at length 4w = {L}")
    threshold = f"DMA ≥ MHA − {-VS_MHA * 100:.0f} pts and DMA ≥ SWA + {VS_SWA * 100:.0f} pts on every seed"
    if at.empty or not need <= set(at.variant):
        claims.add(kind="paper", claim=claim, metric=f"MQAR accuracy at length {L}", threshold=threshold,
                   paper_value="DMA best on MQAR", measured=f"not measured: needs variants {sorted(need)} "
                   f"tested at length {L}", per_seed_pass=[None] * len(seeds))
    else:
        acc = at.groupby(["variant", "seed_index"]).accuracy.mean()  # mean over K
        per = {v: {int(s): float(acc[v][s]) for s in seeds} for v in need}
        ok = [per["dma"][s] >= per["mha"][s] + VS_MHA and per["dma"][s] >= per["swa"][s] + VS_SWA for s in seeds]
        claims.add(
            kind="paper",
            claim=claim,
            metric=f"MQAR accuracy at length {L}, mean over K ∈ {sorted(int(k) for k in at.n_pairs.unique())}",
            threshold=threshold, paper_value="DMA best on MQAR (paper: DMA > MHA, SWA, MLA, NSA)",
            measured="; ".join(f"seed {s}: DMA {per['dma'][s]:.3f}, MHA {per['mha'][s]:.3f}, SWA {per['swa'][s]:.3f}"
                               for s in seeds),
            per_seed_pass=ok, per_seed_values=per)
    claims.not_reproduced("DMA is faster than dense attention (sparse CUDA kernel)",
                          why="the speed-up needs the flash-dmattn CUDA kernel; ours is a dense CPU emulation",
                          kind="paper")
    claims.not_reproduced("DMA beats MLA and NSA on perplexity (SmolLM-corpus pre-training)",
                          why="MLA/NSA are not implemented and pre-training corpora are unavailable offline",
                          kind="paper")
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    metrics = evaluate_all(p["manifest"], p["eval_batch_size"])
    claims = check_claims(metrics, window=p["window"], train_len=p["train_len"],
                          bar=float(p["competence"]["mha_accuracy"]), scale=p["scale"])
    write_evaluation(args, "dynamic_mask", claims, {"metrics": metrics}, started=t0,
                     work_s=metrics.groupby(["variant", "seed_index"]).train_wall_s.first().sum())


if __name__ == "__main__":
    run_step(main, description=__doc__)
