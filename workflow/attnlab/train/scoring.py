"""Teacher-forced scoring of a model on a task file: per sequence, how many targets it gets right."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from attnlab.train.data import SequenceData, Transform


@torch.no_grad()
def score(model, data: SequenceData, batch_size: int = 64, transform: Transform | None = None,
          seed: int = 0) -> pd.DataFrame:
    """One row per sequence (in data order): n_targets, n_correct, nll (summed over targets),
    token_acc, exact (every target right). Prediction = argmax given the true prefix."""
    model.eval()
    rows = []
    for start in range(0, len(data), batch_size):
        idx = range(start, min(start + batch_size, len(data)))
        rng = np.random.default_rng([seed, start])
        batch = data.collate(idx, transform, rng)
        logits = model(batch["input_ids"]).logits[:, :-1].float()
        labels = batch["labels"][:, 1:]
        has = labels != -100
        nll = F.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none") * has
        right = (logits.argmax(-1) == labels) & has
        n, c = has.sum(1), right.sum(1)
        rows += [{"n_targets": int(a), "n_correct": int(b), "nll": float(d)}
                 for a, b, d in zip(n, c, nll.sum(1))]
    df = pd.DataFrame(rows)
    df["token_acc"] = df.n_correct / df.n_targets
    df["exact"] = df.n_correct == df.n_targets
    return pd.concat([data.frame.drop(columns=["input_ids", "target_mask"]).reset_index(drop=True), df], axis=1)
