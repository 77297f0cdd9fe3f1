"""Batches from a task file: the batch of step s is a function of (seed, s) alone, so a resumed run
sees exactly the batches an uninterrupted one would."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch

from attnlab.tasks.vocab import META, PAD

Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


class SequenceData:
    """The `input_ids` / `target_mask` columns of a task frame, ready to batch."""

    def __init__(self, df: pd.DataFrame):
        self.frame = df.reset_index(drop=True)
        self.ids = [np.asarray(x, dtype=np.int64) for x in df["input_ids"]]
        self.mask = [np.asarray(m, dtype=bool) for m in df["target_mask"]]

    def __len__(self) -> int:
        return len(self.ids)

    def collate(self, index, transform: Transform | None = None, rng: np.random.Generator | None = None) -> dict:
        """Right-padded (PAD, no target) input_ids and labels (−100 where there is no target)."""
        pairs = [(self.ids[i], self.mask[i]) for i in index]
        if transform is not None:
            pairs = [transform(s, m, rng) for s, m in pairs]
        T = max(len(s) for s, _ in pairs)
        ids = np.full((len(pairs), T), PAD, dtype=np.int64)
        labels = np.full((len(pairs), T), -100, dtype=np.int64)
        for b, (s, m) in enumerate(pairs):
            ids[b, : len(s)] = s
            labels[b, : len(s)][m] = s[m]
        return {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels)}


class RandomBatches:
    """`batches(step)`: `batch_size` sequences drawn with replacement by an RNG seeded with (seed, step)."""

    def __init__(self, data: SequenceData, batch_size: int, seed: int, transform: Transform | None = None):
        self.data, self.batch_size, self.seed, self.transform = data, batch_size, seed, transform

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        return self.data.collate(rng.integers(0, len(self.data), self.batch_size), self.transform, rng)


def insert_meta_tokens(rate: float) -> Transform:
    """Meta-tokens (arXiv 2509.16278, Sec. 3): before each token after BOS, with probability `rate`,
    insert a META token; meta-tokens are never targets (excluded from the loss)."""

    def transform(ids, mask, rng):
        insert = rng.random(len(ids)) < rate
        insert[0] = False
        out_len = len(ids) + int(insert.sum())
        new_ids = np.empty(out_len, dtype=ids.dtype)
        new_mask = np.zeros(out_len, dtype=bool)
        pos = np.arange(len(ids)) + np.cumsum(insert)  # where each original token lands
        new_ids[:] = META
        new_ids[pos], new_mask[pos] = ids, mask
        return new_ids, new_mask

    return transform
