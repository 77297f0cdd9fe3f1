"""Head-level interventions over named activations, on any HeadModel (ours or an adapted Hugging
Face LM): mean-ablation scans, circuits and their overlap, direct logit attribution, low-rank
query/key projections, and per-head injection of task embeddings with trainable mixing weights
(soft injection, arXiv 2507.20906).

A task's prompts are a (batch, pos) id tensor (task ids; the model's token offset is applied here),
the position `pred` (batch,) that predicts the answer (answer_pos − 1), the `answer` ids and, for a
logit difference, the `foils` ids (batch, k).
"""

from __future__ import annotations

import numpy as np
import torch

from attnlab.heads import circuits as C
from attnlab.heads.adapters import HeadModel


def z_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_z"


def _at(logits: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    return logits[torch.arange(len(pred)), pred]


def _task_logits(model: HeadModel, logits: torch.Tensor, task_vocab: int) -> torch.Tensor:
    lo = model.token_offset
    return logits[..., lo:lo + task_vocab]


def answer_metrics(model: HeadModel, ids, pred, answer, foils, task_vocab: int, **run) -> tuple[float, float]:
    """(mean LD, accuracy: the answer has the largest logit in the task vocabulary) of one run."""
    logits, _ = model.run(model.encode(ids), **run)
    lg = _at(_task_logits(model, logits, task_vocab), pred).float()
    return float(C.logit_diff(lg, answer, foils).mean()), float((lg.argmax(-1) == answer).float().mean())


def head_means(model: HeadModel, ids) -> dict[int, torch.Tensor]:
    """{layer: (head, d_head)} mean per-head output over the prompts and positions (mean ablation)."""
    names = [z_name(l) for l in range(model.n_layers)]
    _, cache = model.run(model.encode(ids), names=names)
    return {l: cache[z_name(l)].mean(dim=(0, 1)) for l in range(model.n_layers)}


def mean_ablate(head: int, mean: torch.Tensor):
    """A hook_z patch that sets `head`'s output to `mean` (d_head) at every position."""
    def fn(z):
        z = z.clone()
        z[:, :, head] = mean.to(z.dtype)
        return z
    return fn


def ld_score(model: HeadModel, ids, pred, answer, foils, task_vocab: int):
    """A score for `ablation_scan`: the mean logit difference of a run with the given interventions."""
    return lambda **run: answer_metrics(model, ids, pred, answer, foils, task_vocab, **run)[0]


def ablation_scan(model: HeadModel, ids, score, means: dict[int, torch.Tensor] | None = None) -> tuple[float, np.ndarray]:
    """(score_clean, I (layers, heads)): every head mean-ablated in turn (means over `ids` unless
    given); `score(**run)` is the task's behaviour under a run's interventions (a logit difference:
    `ld_score`), I = (clean − ablated) / clean."""
    means = head_means(model, ids) if means is None else means
    clean = score()
    ablated = np.zeros((model.n_layers, model.n_heads))
    for l in range(model.n_layers):
        for h in range(model.n_heads):
            ablated[l, h] = score(patch={z_name(l): mean_ablate(h, means[l][h])})
    return clean, C.importance(clean, ablated)


@torch.no_grad()
def direct_logit_attribution(model: HeadModel, ids, pred, answer, foils, task_vocab: int) -> np.ndarray:
    """(layers, heads): mean over prompts of each head's direct effect on the logit difference: its
    write at the predicting position, through the final norm (scale frozen) and the unembedding,
    projected on W_U[answer] − W_U[top foil] (the foil with the largest clean logit)."""
    L = model.n_layers
    names = [z_name(l) for l in range(L)]
    logits, cache = model.run(model.encode(ids), names=names)
    lg = _at(_task_logits(model, logits, task_vocab), pred).float()
    top_foil = foils.gather(-1, lg.gather(-1, foils).argmax(-1, keepdim=True))[:, 0]
    off = model.token_offset
    resid = model.final_residual(model.encode(ids))[torch.arange(len(pred)), pred]
    out = np.zeros((L, model.n_heads))
    rows = torch.arange(len(pred))
    for l in range(L):
        w = model.head_writes(l, cache[z_name(l)][rows, pred][:, None])[:, 0]  # (batch, head, d_model)
        direct = model.unembed_direct(resid[:, None], w)  # (batch, head, vocab)
        d = direct[rows, :, answer + off] - direct[rows, :, top_foil + off]
        out[l] = d.mean(0).float().numpy()
    return out


# --- low-rank queries and keys -------------------------------------------------------------------


def qk_vectors(model: HeadModel, layer: int, head: int, ids, q_pos, k_pos) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's query vectors at `q_pos` (batch,) and key vectors at `k_pos` (batch, m), before
    rotary positions: ((batch, d), (batch·m, d)). For grouped keys the head's key group is used."""
    store = {}

    def keep(kind):
        def fn(x):
            store[kind] = x.detach()
            return x
        return fn

    model.run(model.encode(ids), patch={f"blocks.{layer}.attn.hook_q": keep("q"),
                                        f"blocks.{layer}.attn.hook_k": keep("k")})
    rows = torch.arange(len(q_pos))
    q = store["q"][rows, q_pos, head]
    kh = head * store["k"].shape[2] // model.n_heads
    k = store["k"][rows[:, None], k_pos, kh].reshape(-1, store["k"].shape[-1])
    return q, k


def lowrank_patch(layer: int, head: int, n_heads: int, q_fit, k_fit, q_pos, k_pos) -> dict:
    """hook_q / hook_k patches that replace the head's query at q_pos and keys at k_pos by their
    projections on the fitted (mean, components) bases."""
    def q_fn(x):
        x = x.clone()
        rows = torch.arange(len(q_pos))
        x[rows, q_pos, head] = C.project(x[rows, q_pos, head], *q_fit)
        return x

    def k_fn(x):
        x = x.clone()
        kh = head * x.shape[2] // n_heads
        rows = torch.arange(len(k_pos))[:, None]
        x[rows, k_pos, kh] = C.project(x[rows, k_pos, kh], *k_fit)
        return x

    return {f"blocks.{layer}.attn.hook_q": q_fn, f"blocks.{layer}.attn.hook_k": k_fn}


# --- soft injection of task embeddings -----------------------------------------------------------


def task_embedding(model: HeadModel, ids, pred) -> torch.Tensor:
    """(layers, heads, d_head): the mean over prompts of every head's output at the predicting position."""
    names = [z_name(l) for l in range(model.n_layers)]
    _, cache = model.run(model.encode(ids), names=names)
    rows = torch.arange(len(pred))
    return torch.stack([cache[z_name(l)][rows, pred].mean(0) for l in range(model.n_layers)])


def inject(z: torch.Tensor, e: torch.Tensor, alpha: torch.Tensor, pred) -> torch.Tensor:
    """z (batch, pos, head, d) with each head's output at `pred` mixed: (1 − α_h) z + α_h e_h."""
    rows = torch.arange(len(pred))
    z = z.clone()
    a = alpha[:, None].to(z.dtype)
    z[rows, pred] = (1 - a) * z[rows, pred] + a * e.to(z.dtype)
    return z


def injection_patch(e: torch.Tensor, alpha: torch.Tensor, pred) -> dict:
    """hook_z patches injecting e (layers, heads, d) with weights alpha (layers, heads)."""
    return {z_name(l): _injector(e[l], alpha[l], pred) for l in range(len(e))}


def _injector(e_l, alpha_l, pred):
    return lambda z: inject(z, e_l, alpha_l, pred)


def fit_soft_injection(model: HeadModel, e: torch.Tensor, ids, pred, answer, task_vocab: int, *, steps: int = 200,
                       lr: float = 0.1, seed: int = 0, init: float = 0.0) -> torch.Tensor:
    """α = sigmoid(θ) (layers, heads), θ fitted by Adam on the cross-entropy of the answer at the
    predicting position with the model frozen (its weights get no gradient)."""
    torch.manual_seed(seed)
    theta = torch.full(e.shape[:2], float(init), requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    enc = model.encode(ids)
    with model.frozen():
        for _ in range(steps):
            logits, _ = model.run(enc, patch=injection_patch(e, torch.sigmoid(theta), pred), grad=True)
            lg = _at(_task_logits(model, logits, task_vocab), pred).float()
            loss = torch.nn.functional.cross_entropy(lg, answer)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return torch.sigmoid(theta).detach()


def injected_accuracy(model: HeadModel, e: torch.Tensor, alpha: torch.Tensor, ids, pred, answer, task_vocab: int) -> float:
    logits, _ = model.run(model.encode(ids), patch=injection_patch(e, alpha, pred))
    lg = _at(_task_logits(model, logits, task_vocab), pred)
    return float((lg.argmax(-1) == answer).float().mean())
