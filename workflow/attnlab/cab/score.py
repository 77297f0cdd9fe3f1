"""Scoring CAB models: token accuracy on a test frame, and CAB's leakage test on a trained model
(scripts/attention_pattern): perturbing the inputs after position t leaves every output before t
unchanged (causal self: the decoder-only LM; causal cross: the encoder–decoder's decoder)."""

from __future__ import annotations

import numpy as np
import torch

from attnlab.tasks.vocab import FIRST


def accuracy(model, pattern: str, df, batch_size: int = 250) -> tuple[int, int]:
    """(correct, targets) of greedy predictions at the frame's targets (teacher-forced)."""
    from attnlab.seq2seq.data import Seq2SeqData
    from attnlab.train.data import SequenceData

    model.eval()
    correct = total = 0
    data = SequenceData(df) if pattern == "cs" else Seq2SeqData(df)
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            b = data.collate(range(start, min(start + batch_size, len(data))))
            if pattern == "cs":
                logits = model(b["input_ids"]).logits[:, :-1]
                labels = b["labels"][:, 1:]
            else:
                logits = model(**b).logits  # decoder inputs: given (NC) or the labels shifted right (CC)
                labels = b["labels"]
            keep = labels != -100
            correct += int((logits.argmax(-1)[keep] == labels[keep]).sum())
            total += int(keep.sum())
    return correct, total


def leakage(model, pattern: str, df, n: int = 8, seed: int = 0) -> float:
    """The largest change of an output before t when the inputs from t on are redrawn, over t and
    `n` test examples (CS: the LM's tokens; CC: the decoder's inputs, the source fixed)."""
    from attnlab.seq2seq.data import Seq2SeqData
    from attnlab.train.data import SequenceData

    model.eval()
    g = torch.Generator().manual_seed(seed)
    if pattern == "cs":
        b = SequenceData(df).collate(range(n))
        x, kw, call = b["input_ids"], {}, lambda ids: model(ids).logits
    else:
        b = Seq2SeqData(df).collate(range(n))
        x = model.shift_right(b["labels"])
        kw = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
        call = lambda ids: model(decoder_input_ids=ids, **kw).logits  # noqa: E731
    worst = 0.0
    with torch.no_grad():
        base = call(x)
        for t in range(1, x.shape[1]):
            y = x.clone()
            y[:, t:] = torch.randint(FIRST, FIRST + 32, (x.shape[0], x.shape[1] - t), generator=g)
            worst = max(worst, float((call(y)[:, :t] - base[:, :t]).abs().max()))
    return worst


def oracle_accuracy(df) -> float:
    """Bayes accuracy of the frame (NS, CS): the oracle that knows each sequence's chain."""
    return float(np.sum(df["oracle_correct"]) / np.sum(df["n_targets"]))
