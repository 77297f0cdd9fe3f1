"""What a synthetic task is: a deterministic generator of sequences and the vocabulary it needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Task:
    name: str
    generate: Callable[..., pd.DataFrame]  # generate(n, seed, **params) -> frame
    vocab_size: Callable[..., int]  # vocab_size(**params) -> ids a model needs


def frame(name: str, seqs: list[np.ndarray], masks: list[np.ndarray], **meta) -> pd.DataFrame:
    """One row per sequence; metadata columns given as equal-length lists."""
    import pandas as pd  # lazily: plans import the task modules at Snakefile parse time for vocab sizes

    if any(len(s) != len(m) for s, m in zip(seqs, masks)):
        raise AssertionError("every target_mask must be as long as its sequence")
    df = pd.DataFrame({
        "task": name,
        "input_ids": [np.asarray(s, dtype=np.int32) for s in seqs],
        "target_mask": [np.asarray(m, dtype=bool) for m in masks],
        **meta,
    })
    df.insert(1, "length", [len(s) for s in seqs])
    return df
