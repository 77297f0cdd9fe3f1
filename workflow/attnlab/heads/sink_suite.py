"""Run the attention-sink analyses of one model on a text suite (any task frame whose sequences
start with the same first token): α of the first token per head, Sink_1^ε per sequence and per
layer, secondary sinks, per-head entropy and mean distance. Works on any HeadModel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.heads import patterns, sinks
from attnlab.heads.adapters import HeadModel


def analyze(model: HeadModel, df: pd.DataFrame, *, T: int, eps: float = sinks.EPSILON, tau: float = sinks.TAU,
            min_queries: int = 16, batch_size: int = 16, n_maps: int = 4) -> dict[str, pd.DataFrame]:
    """Frames for one model, on the first `T` tokens of every sequence (sequences shorter than T
    are dropped):

    heads:     layer, head, alpha1 (mean α of the first token), sink_freq (fraction of sequences
               with α > ε), entropy, distance
    samples:   sample, sink_rate (Sink_1^ε of the sequence), plus one column per layer
               `layer{l}` with that layer's fraction of sink heads; when `df` has a `copy_mask`
               column (the trigger task's back-copied positions), also copy_correct and copy_total:
               how many of the sequence's copy targets the model predicts (greedy, teacher-forced)
    secondary: one row per secondary sink (sample, position, token, first_layer, layers, score,
               cos_primary, creator_layer, mlp_cos, mlp_norm, control_cos)
    maps:      rank, layer, head, query, key, weight: the `n_maps` heads with the largest α₁ on the
               first sequence
    """
    keep = df[df.length >= T].reset_index(drop=True)
    if keep.empty:
        raise ValueError(f"no sequence has {T} tokens")
    L, H = model.n_layers, model.n_heads
    names = model.pattern_names() + [f"blocks.{l}.hook_resid_pre" for l in range(L)] + \
        [f"blocks.{l}.hook_mlp_out" for l in range(L)]
    alpha1 = np.zeros((len(keep), L, H))
    ent, dist = np.zeros((L, H)), np.zeros((L, H))
    secondary, first_maps = [], None
    has_copy = "copy_mask" in keep.columns
    copy_correct, copy_total = np.zeros(len(keep), dtype=int), np.zeros(len(keep), dtype=int)
    for s in range(0, len(keep), batch_size):
        part = keep.iloc[s : s + batch_size]
        ids = torch.tensor(np.stack([np.asarray(x)[:T] for x in part.input_ids]), dtype=torch.long)
        logits, cache = model.run(model.encode(ids), names)
        if has_copy:  # position i is predicted from position i − 1
            mask = np.stack([np.asarray(m, dtype=bool)[:T] for m in part.copy_mask])[:, 1:]
            hit = (model.decode(logits[:, :-1].argmax(-1)) == ids[:, 1:]).numpy() & mask
            copy_correct[s : s + len(part)], copy_total[s : s + len(part)] = hit.sum(1), mask.sum(1)
        P = np.stack([cache[f"blocks.{l}.attn.hook_pattern"].float().numpy() for l in range(L)], 1)  # B L H T T
        resid = np.stack([cache[f"blocks.{l}.hook_resid_pre"].float().numpy() for l in range(L)], 1)  # B L T D
        mlp = np.stack([cache[f"blocks.{l}.hook_mlp_out"].float().numpy() for l in range(L)], 1)
        alpha = sinks.importance_all(P)  # (B, L, H, T)
        alpha1[s : s + len(part)] = alpha[..., 0]
        ent += patterns.attention_entropy(P).sum(0)
        dist += patterns.mean_attention_distance(P).sum(0)
        for b in range(len(part)):
            for row in sinks.secondary_sinks(alpha[b], resid[b], mlp[b], tau=tau, min_queries=min_queries):
                secondary.append({"sample": s + b, "token": int(ids[b, row["position"]]), **row})
        if first_maps is None:
            first_maps = P[0]
    heads = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L),
                          "alpha1": alpha1.mean(0).ravel(), "sink_freq": (alpha1 > eps).mean(0).ravel(),
                          "entropy": (ent / len(keep)).ravel(), "distance": (dist / len(keep)).ravel()})
    per_layer = sinks.sink_rate_per_layer(alpha1, eps)  # (sample, layer)
    samples = pd.DataFrame({"sample": np.arange(len(keep)), "sink_rate": sinks.sink_rate(alpha1, eps),
                            **{f"layer{l}": per_layer[:, l] for l in range(L)}})
    if has_copy:
        samples = samples.assign(copy_correct=copy_correct, copy_total=copy_total)
    sec_cols = ["sample", "token", "position", "first_layer", "layers", "score", "cos_primary",
                "creator_layer", "mlp_cos", "mlp_norm", "control_cos"]
    sec = pd.DataFrame(secondary, columns=sec_cols)
    top = heads.sort_values(["alpha1", "layer", "head"], ascending=[False, True, True]).head(n_maps)
    maps = []
    q, k = np.nonzero(np.tril(np.ones((T, T), dtype=bool)))
    for rank, r in enumerate(top.itertuples()):
        A = first_maps[r.layer, r.head]
        maps.append(pd.DataFrame({"rank": rank, "layer": r.layer, "head": r.head, "alpha1": r.alpha1,
                                  "query": q, "key": k, "weight": A[q, k]}))
    return {"heads": heads, "samples": samples, "secondary": sec, "maps": pd.concat(maps, ignore_index=True)}
