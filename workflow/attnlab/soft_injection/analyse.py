"""Soft injection of task embeddings on one model (a step; any model, ours or a local Hugging Face
causal LM, through attnlab.heads.adapters and attnlab.heads.circuit_suite).

    python -m attnlab.soft_injection.analyse --input model M/config.json --input data D.parquet \
        --output tasks T.parquet --output alpha A.parquet --output transfer R.parquet --params JSON
    params: task_vocab, n_tasks, per_family, n_inputs, n_outputs, mapping_seed, noise, fit_steps,
            fit_lr, seed, token_offset

The data file (attnlab.tasks.icl_tasks, parts in this order): n_tasks parts of N-shot prompts that
build the task embeddings (part t: task t), n_tasks parts of zero-shot prompts that fit α, n_tasks
parts of N-shot test prompts. Per task t:

  e_t        (layers, heads, d_head): the mean of every head's output (hook_z) at the query over
             the embedding prompts (circuit_suite.task_embedding)
  α_t        sigmoid(θ), θ fitted by Adam on the answer's cross-entropy over the zero-shot fit
             prompts with the model frozen (circuit_suite.fit_soft_injection)
  accuracies on the test queries: zero-shot (BOS x_q), N-shot ICL (the test prompt itself), zero-shot
             with e_t injected at α_t (soft) and at α = 1 everywhere (hard); and the model-free
             baselines on the same N-shot prompts (soft_injection.baselines)
  transfer   zero-shot accuracy on task b's queries with e_b injected at task a's α, for every (a, b)

tasks: task, family, acc_zero, acc_icl, acc_soft, acc_hard, alpha_mean, base_<kind> (model-free),
       tokens_zero, tokens_icl, flops_zero, flops_icl (forward FLOPs of one prompt), analysis_wall_s
alpha: task, layer, head, alpha          transfer: a, b, acc
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from attnlab.cli import StepArgs, run_step
from attnlab.heads import circuit_suite as S
from attnlab.io import write_parquet
from attnlab.runs import analysis_inputs
from attnlab.soft_injection import baselines as B
from attnlab.tasks.icl_tasks import mappings

COLUMNS = ["part", "task_id", "family", "input_ids", "answer_pos", "answer"]


def tensors(g: pd.DataFrame):
    ids = torch.tensor(np.stack(g.input_ids)).long()
    return ids, torch.tensor(g.answer_pos.to_numpy()).long() - 1, torch.tensor(g.answer.to_numpy()).long()


def zero_shot(ids: torch.Tensor, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The zero-shot prompt of each N-shot prompt: BOS, its query, its answer."""
    rows = torch.arange(len(pred))
    return torch.stack([ids[:, 0], ids[rows, pred], ids[rows, pred + 1]], 1), torch.ones_like(pred)


def forward_flops(model, ids: torch.Tensor) -> float:
    """Forward FLOPs of one prompt (torch's FLOP counter over the model's matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model.run(model.encode(ids[:1]))
    return float(counter.get_total_flops())


def analyze(model, df: pd.DataFrame, *, task_vocab: int, n_tasks: int, per_family: int, n_inputs: int,
            n_outputs: int, mapping_seed: int, noise: float, fit_steps: int, fit_lr: float,
            seed: int = 0) -> dict[str, pd.DataFrame]:
    F = mappings(n_tasks // per_family, per_family, n_inputs, n_outputs, mapping_seed)
    role = {"embed": range(0, n_tasks), "fit": range(n_tasks, 2 * n_tasks), "test": range(2 * n_tasks, 3 * n_tasks)}
    rows, alphas, E, A, Z = [], [], {}, {}, {}
    for t in range(n_tasks):
        parts = {r: df[df.part == idx[t]] for r, idx in role.items()}
        if any(len(g) == 0 or set(g.task_id) != {t} for g in parts.values()):
            raise ValueError(f"soft_injection: the data file has no part of task {t} for every role (embed, fit, "
                             "test) in the expected order")
        ids_e, pred_e, _ = tensors(parts["embed"])
        E[t] = S.task_embedding(model, ids_e, pred_e)
        ids_f, pred_f, ans_f = tensors(parts["fit"])
        A[t] = S.fit_soft_injection(model, E[t], ids_f, pred_f, ans_f, task_vocab, steps=fit_steps, lr=fit_lr,
                                    seed=seed + t)
        test = parts["test"]
        ids, pred, ans = tensors(test)
        ids0, pred0 = zero_shot(ids, pred)
        Z[t] = (ids0, pred0, ans)
        acc = lambda i, p, a=ans: S.answer_metrics(model, i, p, a, a[:, None], task_vocab)[1]  # noqa: E731
        rows.append({
            "task": t, "family": t // per_family, "acc_zero": acc(ids0, pred0), "acc_icl": acc(ids, pred),
            "acc_soft": S.injected_accuracy(model, E[t], A[t], ids0, pred0, ans, task_vocab),
            "acc_hard": S.injected_accuracy(model, E[t], torch.ones_like(A[t]), ids0, pred0, ans, task_vocab),
            "alpha_mean": float(A[t].mean()),
            **{f"base_{k}": B.accuracy(F, test.input_ids, test.answer, n_inputs, k, noise) for k in B.KINDS},
            "tokens_zero": int(pred0[0]) + 1, "tokens_icl": int(pred[0]) + 1,
        })
        L, H = A[t].shape
        alphas.append(pd.DataFrame({"task": t, "layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L),
                                    "alpha": A[t].numpy().ravel()}))
    transfer = [{"a": a, "b": b, "acc": S.injected_accuracy(model, E[b], A[a], *Z[b], task_vocab)}
                for a in range(n_tasks) for b in range(n_tasks)]
    tasks = pd.DataFrame(rows)
    ids, pred, _ = tensors(df[df.part == role["test"][0]])
    tasks["flops_zero"] = forward_flops(model, zero_shot(ids, pred)[0][:, :2])
    tasks["flops_icl"] = forward_flops(model, ids[:, :int(pred[0]) + 1])
    return {"tasks": tasks, "alpha": pd.concat(alphas, ignore_index=True), "transfer": pd.DataFrame(transfer)}


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    model, df = analysis_inputs(args, COLUMNS)
    torch.manual_seed(p["seed"])
    out = analyze(model, df, task_vocab=p["task_vocab"], n_tasks=p["n_tasks"], per_family=p["per_family"],
                  n_inputs=p["n_inputs"], n_outputs=p["n_outputs"], mapping_seed=p["mapping_seed"],
                  noise=p["noise"], fit_steps=p["fit_steps"], fit_lr=p["fit_lr"], seed=p["seed"])
    out["tasks"] = out["tasks"].assign(analysis_wall_s=time.perf_counter() - t0)
    for name in ("tasks", "alpha", "transfer"):
        write_parquet(args.output(name), out[name])


if __name__ == "__main__":
    run_step(main, description=__doc__)
