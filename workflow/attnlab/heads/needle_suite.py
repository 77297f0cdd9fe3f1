"""Run the retrieval-head analyses of one model on a needle suite (attnlab.tasks needle frames):
retrieval scores from greedy decoding, needle accuracy, and the ablation of the top-K retrieval
heads against K random non-retrieval heads. Works on any HeadModel (ours or a local HF model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.heads import ablation, patterns, retrieval
from attnlab.heads.adapters import HeadModel
from attnlab.heads.decode import exact_match, greedy_with_rows
from attnlab.tasks.recall import value_offset

# per-head pattern summaries of the heads frame (column: (B, L, H, T, T) -> (B, L, H))
HEAD_STATS = {"entropy": patterns.attention_entropy, "distance": patterns.mean_attention_distance,
              "previous_token": patterns.previous_token_attention}


def layout(length: int, needle_pos: int, key_len: int, value_len: int, value_marker: bool = True) -> dict:
    """Positions in a needle sequence BOS … KEY k VAL v … QUERY KEY k VAL v EOS (VAL absent without
    `value_marker`)."""
    start = needle_pos + value_offset(key_len, value_marker)
    return {"span": (start, start + value_len), "answer_start": length - 1 - value_len}


def _groups(df: pd.DataFrame, batch_size: int):
    """Batches of equal-length sequences, in frame order: (index array, ids tensor)."""
    for _, g in df.groupby("length", sort=True):
        for s in range(0, len(g), batch_size):
            part = g.iloc[s : s + batch_size]
            yield part.index.to_numpy(), torch.tensor(np.stack(part.input_ids.to_numpy()), dtype=torch.long)


def score_heads(model: HeadModel, df: pd.DataFrame, key_len: int, value_len: int,
                batch_size: int = 32, value_marker: bool = True) -> tuple[np.ndarray, pd.DataFrame, dict[str, np.ndarray]]:
    """Per-sample retrieval scores (sample, layer, head) in frame order; a per-sample frame with the
    greedy answer's exact match; per-head attention entropy, mean distance and previous-token
    attention, {name: (layer, head)}, averaged over samples (on the prompt plus the true answer)."""
    df = df.reset_index(drop=True)
    scores = np.zeros((len(df), model.n_layers, model.n_heads))
    exact = np.zeros(len(df), dtype=bool)
    stats = {name: np.zeros((model.n_layers, model.n_heads)) for name in HEAD_STATS}
    for idx, ids in _groups(df, batch_size):
        lay = [layout(int(df.length[i]), int(df.needle_pos[i]), key_len, value_len, value_marker) for i in idx]
        a0 = lay[0]["answer_start"]
        ids = model.encode(ids)
        gen, rows, ctxs = greedy_with_rows(model, ids[:, :a0], value_len)
        for b, i in enumerate(idx):
            scores[i] = retrieval.sample_score([r[b] for r in rows], [c[b] for c in ctxs], lay[b]["span"],
                                               list(gen[b]))
            exact[i] = bool((gen[b] == ids[b, a0 : a0 + value_len].numpy()).all())
        _, cache = model.run(ids[:, : a0 + value_len], model.pattern_names())
        P = np.stack([cache[n].float().numpy() for n in model.pattern_names()], 1)  # (B, L, H, T, T)
        for name, stat in HEAD_STATS.items():
            stats[name] += stat(P).sum(0)
    per_sample = df.drop(columns=["input_ids", "target_mask"]).assign(exact=exact)
    return scores, per_sample, {name: v / len(df) for name, v in stats.items()}


def accuracy(model: HeadModel, df: pd.DataFrame, value_len: int, ablate=None, batch_size: int = 64) -> np.ndarray:
    """(sample,) exact match of the answer under teacher forcing, with `ablate` heads masked."""
    df = df.reset_index(drop=True)
    out = np.zeros(len(df), dtype=bool)
    for idx, ids in _groups(df, batch_size):
        a0 = int(df.length[idx[0]]) - 1 - value_len
        out[idx] = exact_match(model, model.encode(ids), a0, value_len, ablate=ablate)
    return out


def split_halves(df: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of two disjoint halves of a needle suite, (select, held_out): within every
    (seq_len, depth) cell the rows are shuffled by `seed` and the first ⌈n/2⌉ go to `select`, so
    both halves cover every cell. Heads are chosen on one half and ablated on the other."""
    rng = np.random.default_rng(seed)
    df = df.reset_index(drop=True)
    select, held = [], []
    for _, g in df.groupby(["seq_len", "depth"], sort=True):
        idx = rng.permutation(g.index.to_numpy())
        cut = (len(idx) + 1) // 2
        select.append(idx[:cut]), held.append(idx[cut:])
    return np.sort(np.concatenate(select)), np.sort(np.concatenate(held))


def analyze(model: HeadModel, df: pd.DataFrame, *, key_len: int, value_len: int, ks: list[int],
            n_draws: int, seed: int, batch_size: int = 32, n_maps: int = 4,
            split_seed: int | None = None, value_marker: bool = True) -> dict[str, pd.DataFrame]:
    """Everything the retrieval-heads table needs from one model.

    With `split_seed` the suite is cut in two halves (split_halves): retrieval scores, and so the
    heads that are masked, come from the `select` half, and every accuracy (unablated and ablated)
    from the held-out half, so the heads are not chosen on the needles they are judged on. Without
    it (the default) both use the whole suite. `value_marker`: whether the needles have a VAL token
    between key and value (attnlab.tasks.recall.needle).

    heads:    layer, head, retrieval_score, entropy, distance, previous_token, greedy_exact (one row per
              head; previous_token: mean attention on the token just before; greedy_exact: the
              fraction of needles answered exactly by greedy decoding)
    ablation: condition (none | top | random), k, draw, heads, seq_len, depth, n, accuracy
    maps:     rank, layer, head, query, key, weight: the attention of the `n_maps` top heads on one
              needle sequence (the longest length, the depth closest to 0.5), span_start/span_end
    """
    df = df.reset_index(drop=True)
    if split_seed is None:
        scored, judged = df, df
    else:
        sel, held = split_halves(df, split_seed)
        if not len(sel) or not len(held):
            raise ValueError("needle suite too small to split in two halves (need ≥ 2 needles)")
        scored, judged = df.iloc[sel].reset_index(drop=True), df.iloc[held].reset_index(drop=True)
    per_sample_scores, per_sample, stats = score_heads(model, scored, key_len, value_len, batch_size, value_marker)
    S = retrieval.retrieval_scores(per_sample_scores)
    L, H = S.shape
    heads = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L),
                          "retrieval_score": S.ravel(), **{n: v.ravel() for n, v in stats.items()},
                          "greedy_exact": float(per_sample.exact.mean())})

    def acc_rows(condition, k, draw, hs):
        ok = accuracy(model, judged, value_len, ablation.by_layer(hs), batch_size=2 * batch_size)
        g = judged.assign(ok=ok).groupby(["seq_len", "depth"]).ok
        return [{"condition": condition, "k": k, "draw": draw, "heads": " ".join(f"L{l}H{h}" for l, h in hs),
                 "seq_len": int(sl), "depth": float(dp), "n": int(n), "accuracy": float(a)}
                for (sl, dp), n, a in zip(g.size().index, g.size(), g.mean())]

    rows = acc_rows("none", 0, 0, [])
    for k in ks:
        rows += acc_rows("top", k, 0, ablation.top_heads(S, k))
        try:
            draws = ablation.random_non_retrieval_heads(S, k, n_draws, seed=seed + k)
        except ValueError:
            draws = []  # fewer than K non-retrieval heads: nothing to compare against
        for d, hs in enumerate(draws):
            rows += acc_rows("random", k, d, hs)
    return {"heads": heads, "ablation": pd.DataFrame(rows),
            "maps": attention_maps(model, judged, S, key_len, value_len, n_maps, value_marker),
            "samples": per_sample.assign(score_max=per_sample_scores.reshape(len(scored), -1).max(1))}


def attention_maps(model: HeadModel, df: pd.DataFrame, S: np.ndarray, key_len: int, value_len: int,
                   n_maps: int, value_marker: bool = True) -> pd.DataFrame:
    longest = df[df.length == df.length.max()]
    row = longest.iloc[int(np.argmin(np.abs(longest.depth.to_numpy() - 0.5)))]
    lay = layout(int(row.length), int(row.needle_pos), key_len, value_len, value_marker)
    ids = model.encode(torch.tensor(np.asarray(row.input_ids)[None, : lay["answer_start"] + value_len], dtype=torch.long))
    _, cache = model.run(ids, model.pattern_names())
    out = []
    for rank, (l, h) in enumerate(ablation.top_heads(S, n_maps)):
        A = cache[f"blocks.{l}.attn.hook_pattern"][0, h].float().numpy()
        q, k = np.nonzero(np.tril(np.ones_like(A, dtype=bool)))
        out.append(pd.DataFrame({"rank": rank, "layer": l, "head": h, "score": float(S[l, h]),
                                 "query": q, "key": k, "weight": A[q, k],
                                 "span_start": lay["span"][0], "span_end": lay["span"][1]}))
    return pd.concat(out, ignore_index=True)
