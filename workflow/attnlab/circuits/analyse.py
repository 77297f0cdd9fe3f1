"""The circuit analysis of one model on held-out IOI-lite, CO-lite, MCQ-lite and control prompts (a
step; any model, ours or a local Hugging Face causal LM, through attnlab.heads.adapters).

    python -m attnlab.circuits.analyse --input model M/config.json --input data D.parquet \
        --output tasks T.parquet --output heads H.parquet --params JSON
    params: task_vocab, n_states (control chain states), rank, batch_size, token_offset

tasks: task, accuracy, ld (clean), acc_projected (mcq_standard / mcq_random rows: accuracy with the
       top DLA head's queries and keys projected to rank r), top_layer, top_head, analysis_wall_s
heads: task, layer, head, importance (mean ablation), dla (MCQ-lite rows only)

The control's behaviour score is the mean over positions of log p(true next state) − log(1 /
n_states): positive when the model beats a uniform guess, so its importance reads like a logit
difference's.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from attnlab.cli import StepArgs, run_step
from attnlab.heads import circuit_suite as S
from attnlab.heads import circuits as C
from attnlab.io import read_parquet, write_parquet
from attnlab.runs import analysis_inputs
from attnlab.tasks.vocab import FIRST

LABEL_POS = [10, 12, 14]  # MCQ-lite: positions of the three option labels


def tensors(df: pd.DataFrame):
    ids = torch.tensor(np.stack(df.input_ids)).long()
    pred = torch.tensor(df.answer_pos.to_numpy()).long() - 1
    return ids, pred, torch.tensor(df.answer.to_numpy()).long(), torch.tensor(np.stack(df.foils)).long()


def control_score(model, ids, n_states: int):
    lo = model.token_offset + FIRST

    def score(**run):
        logits, _ = model.run(model.encode(ids), **run)
        logp = torch.log_softmax(logits[:, :-1, lo:lo + n_states].float(), -1)
        tgt = (ids[:, 1:] - FIRST).clamp(0, n_states - 1)
        return float((logp.gather(-1, tgt[..., None])[..., 0] + math.log(n_states)).mean())

    return score


def analyze(model, df: pd.DataFrame, *, task_vocab: int, n_states: int, rank: int) -> dict[str, pd.DataFrame]:
    tasks, heads = [], []
    L, H = model.n_layers, model.n_heads
    grid = {"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)}
    for task in ("ioi", "cobj", "mcq"):
        g = df[df.task == task]
        ids, pred, ans, foils = tensors(g)
        ld, acc = S.answer_metrics(model, ids, pred, ans, foils, task_vocab)
        _, imp = S.ablation_scan(model, ids, S.ld_score(model, ids, pred, ans, foils, task_vocab))
        row = {"task": task, "accuracy": acc, "ld": ld}
        dla = np.full((L, H), np.nan)
        if task == "mcq":
            dla = S.direct_logit_attribution(model, ids, pred, ans, foils, task_vocab)
            tasks += lowrank(model, g, dla, task_vocab, rank)
        tasks.append(row)
        heads.append(pd.DataFrame({"task": task, **grid, "importance": imp.ravel(), "dla": dla.ravel()}))
    ctrl = torch.tensor(np.stack(df[df.task == "markov_mixture"].input_ids)).long()
    score = control_score(model, ctrl, n_states)
    ld, imp = S.ablation_scan(model, ctrl, score)
    tasks.append({"task": "control", "accuracy": float("nan"), "ld": ld})
    heads.append(pd.DataFrame({"task": "control", **grid, "importance": imp.ravel(), "dla": np.nan}))
    return {"tasks": pd.DataFrame(tasks), "heads": pd.concat(heads, ignore_index=True)}


def lowrank(model, g: pd.DataFrame, dla: np.ndarray, task_vocab: int, rank: int) -> list[dict]:
    """The top-DLA head's queries (at the answer query) and keys (at the option labels), fitted by
    PCA on standard-label prompts, replaced by their rank-r projections; accuracy before and after
    on standard-label and on random-label prompts."""
    l, h = (int(x) for x in np.unravel_index(np.nanargmax(dla), dla.shape))
    std = g[g.standard.astype(bool)]
    ids, pred, *_ = tensors(std)
    k_pos = torch.tensor([LABEL_POS] * len(std))
    q, k = S.qk_vectors(model, l, h, ids, pred, k_pos)
    q_fit, k_fit = C.pca_fit(q, rank), C.pca_fit(k, rank)
    rows = []
    for name, part in (("mcq_standard", std), ("mcq_random", g[~g.standard.astype(bool)])):
        ids, pred, ans, foils = tensors(part)
        patch = S.lowrank_patch(l, h, model.n_heads, q_fit, k_fit, pred, torch.tensor([LABEL_POS] * len(part)))
        ld, acc = S.answer_metrics(model, ids, pred, ans, foils, task_vocab)
        _, acc_p = S.answer_metrics(model, ids, pred, ans, foils, task_vocab, patch=patch)
        rows.append({"task": name, "accuracy": acc, "ld": ld, "acc_projected": acc_p, "top_layer": l, "top_head": h})
    return rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    model, _ = analysis_inputs(args, ("input_ids",))
    df = read_parquet(args.input("data"), ["task", "input_ids", "answer_pos", "answer", "foils", "standard"])
    out = analyze(model, df, task_vocab=p["task_vocab"], n_states=p["n_states"], rank=p["rank"])
    out["tasks"] = out["tasks"].assign(analysis_wall_s=time.perf_counter() - t0)
    for name in ("tasks", "heads"):
        write_parquet(args.output(name), out[name])


if __name__ == "__main__":
    run_step(main, description=__doc__)
