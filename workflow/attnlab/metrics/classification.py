"""Accuracy and cross-entropy of next-token logits, optionally restricted to an answer set."""

from __future__ import annotations

import numpy as np


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def accuracy(logits, targets, candidates=None) -> float:
    """Fraction of rows whose argmax is the target; with `candidates` (token ids), the argmax
    is taken over those tokens only (e.g. OCR's implication answers c_1..c_n)."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    if candidates is None:
        pred = logits.argmax(axis=-1)
    else:
        candidates = np.asarray(candidates)
        pred = candidates[logits[:, candidates].argmax(axis=-1)]
    return float((pred == targets).mean())


def cross_entropy(logits, targets) -> float:
    """Mean negative log-likelihood of the targets under softmax over the full vocabulary (nats)."""
    logp = _log_softmax(np.asarray(logits, dtype=np.float64))
    targets = np.asarray(targets)
    return float(-logp[np.arange(len(targets)), targets].mean())
