"""Per-query NIAH scoring and routing recall of a trained model on the superlinear needle task.

Exact match: both value tokens of a query right (teacher-forced argmax given the true prefix =
greedy decoding of the answer). Routing recall (superlinear models only): at the query's answer
position (its VAL, whose next token is v₁), whether at least one last-layer head keeps the span
that holds the queried needle's v₁ (attnlab.attention.superlinear `hook_route`; the own block
counts as kept)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.hooks import run_with_cache


@torch.no_grad()
def score_queries(model, df: pd.DataFrame, value_len: int, batch_size: int = 50, span: int | None = None) -> pd.DataFrame:
    """One row per query: seq (row of df), query, seq_len, depth, distance (answer position minus the
    needle's v₁ position), correct (bool), routed (bool, or NaN when `span` is None: not routed)."""
    model.eval()
    rows = []
    last = len(model.blocks) - 1
    hook = f"blocks.{last}.attn.hook_route"
    for length, g in df.groupby("seq_len", sort=True):
        for start in range(0, len(g), batch_size):
            part = g.iloc[start:start + batch_size]
            ids = torch.as_tensor(np.stack(part.input_ids.to_numpy())).long()
            if span is None:
                logits, kept = model(ids).logits, None
            else:
                out, cache = run_with_cache(model, ids, names=[hook])
                logits, kept = out.logits, cache[hook]  # (B, H, T, n spans)
            pred = logits.argmax(-1)  # pred[t] predicts token t+1
            for b, (idx, r) in enumerate(part.iterrows()):
                x = ids[b]
                for j, (a, v, d) in enumerate(zip(r.answer_pos, r.value_pos, r.depth)):
                    right = bool((pred[b, a:a + value_len] == x[a + 1:a + 1 + value_len]).all())
                    routed = float("nan") if kept is None else bool(kept[b, :, a, int(v) // span].any())
                    rows.append({"seq": int(idx), "query": j, "seq_len": int(length), "depth": float(d),
                                 "distance": int(a - v), "correct": right, "routed": routed})
    return pd.DataFrame(rows)


DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def depth_bin(depth: pd.Series, centres=DEPTHS) -> pd.Series:
    """Each depth's nearest centre (the test grid {0, .25, .5, .75, 1} of the spec)."""
    c = np.asarray(centres)
    return pd.Series(c[np.abs(depth.to_numpy()[:, None] - c[None]).argmin(1)], index=depth.index)
