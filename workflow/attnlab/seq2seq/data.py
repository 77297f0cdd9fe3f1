"""Batches for the encoder–decoder and the encoder-only masked LM from a task frame.

Frame columns (one example per row):
    input_ids          list[int]  the source (encoder input)
    target_ids         list[int]  the target: decoder labels, or for a masked LM the originals at
                                  the source's positions (same length as input_ids)
    target_mask        list[bool] optional: which target positions are scored (default all)
    decoder_input_ids  list[int]  optional: the decoder's inputs when they are not the shifted
                                  target (e.g. queries given all at once); same length as target_ids

As attnlab.train.data: the batch of step s is a function of (seed, s) alone (resumable runs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.tasks.vocab import PAD


def _col(df: pd.DataFrame, name: str):
    return [np.asarray(x, dtype=np.int64) for x in df[name]] if name in df else None


class Seq2SeqData:
    def __init__(self, df: pd.DataFrame):
        for col in ("input_ids", "target_ids"):
            if col not in df:
                raise ValueError(f"a seq2seq task frame needs the column {col!r} (has {sorted(df.columns)})")
        self.frame = df.reset_index(drop=True)
        self.src, self.tgt = _col(df, "input_ids"), _col(df, "target_ids")
        self.dec = _col(df, "decoder_input_ids")
        self.mask = ([np.asarray(m, dtype=bool) for m in df["target_mask"]] if "target_mask" in df
                     else [np.ones(len(t), dtype=bool) for t in self.tgt])

    def __len__(self) -> int:
        return len(self.src)

    def collate(self, index) -> dict:
        """Right-padded input_ids + attention_mask, labels (-100 where unscored or padding), and
        decoder_input_ids when the frame has them."""
        index = list(index)
        S = max(len(self.src[i]) for i in index)
        T = max(len(self.tgt[i]) for i in index)
        ids = np.full((len(index), S), PAD, dtype=np.int64)
        labels = np.full((len(index), T), -100, dtype=np.int64)
        dec = np.full((len(index), T), PAD, dtype=np.int64) if self.dec is not None else None
        for b, i in enumerate(index):
            ids[b, : len(self.src[i])] = self.src[i]
            t = np.where(self.mask[i], self.tgt[i], -100)
            labels[b, : len(t)] = t
            if dec is not None:
                dec[b, : len(self.dec[i])] = self.dec[i]
        out = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(ids != PAD).long(),
               "labels": torch.from_numpy(labels)}
        if dec is not None:
            out["decoder_input_ids"] = torch.from_numpy(dec)
        return out


class Seq2SeqBatches:
    """`batches(step)`: `batch_size` examples drawn with replacement by an RNG seeded with (seed, step)."""

    def __init__(self, data: Seq2SeqData, batch_size: int, seed: int):
        self.data, self.batch_size, self.seed = data, batch_size, seed

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        return self.data.collate(rng.integers(0, len(self.data), self.batch_size))
