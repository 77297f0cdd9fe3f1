"""Decoding over a HeadModel: greedy generation that keeps each step's last attention row (what the
retrieval score reads), and teacher-forced exact match (what needle accuracy reads)."""

from __future__ import annotations

import numpy as np
import torch

from attnlab.heads.adapters import HeadModel


@torch.no_grad()
def greedy_with_rows(model: HeadModel, prompts: torch.Tensor, n_new: int, ablate=None):
    """Greedy-decode `n_new` tokens after `prompts` (batch, T0; model ids).

    Returns (generated (batch, n_new) model ids, rows, contexts): rows[s] is the (batch, layer,
    head, T0+s) attention of the query that produced token s; contexts[s] the (batch, T0+s) ids
    it attended over."""
    ids = prompts
    names = model.pattern_names()
    gens, rows, contexts = [], [], []
    for _ in range(n_new):
        logits, cache = model.run(ids, names, ablate=ablate)
        nxt = logits[:, -1].argmax(-1)
        rows.append(torch.stack([cache[n][:, :, -1, :] for n in names], 1).float().numpy())
        contexts.append(ids.numpy())
        gens.append(nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
    return torch.stack(gens, 1).numpy(), rows, contexts


@torch.no_grad()
def exact_match(model: HeadModel, ids: torch.Tensor, answer_start: int, answer_len: int, ablate=None) -> np.ndarray:
    """(batch,) bool: every answer token ids[:, answer_start : answer_start+answer_len] is the
    argmax given the true prefix. Equals greedy decoding's exact match (a greedy run goes wrong at
    the first token teacher forcing gets wrong), at the cost of one forward pass."""
    logits, _ = model.run(ids[:, : answer_start + answer_len], (), ablate=ablate)
    pred = logits[:, answer_start - 1 : answer_start + answer_len - 1].argmax(-1)
    return (pred == ids[:, answer_start : answer_start + answer_len]).all(-1).numpy()
