"""Learning-rate schedule: linear warm-up, then cosine decay to `min_lr_ratio`·lr (nanoGPT's get_lr).

A pure function of the step, so the scheduler's whole state is the step counter."""

from __future__ import annotations

import math


def warmup_cosine(step: int, *, lr: float, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """Learning rate for optimizer step `step` (1-based)."""
    if warmup_steps and step <= warmup_steps:
        return lr * step / warmup_steps
    if total_steps <= warmup_steps:
        return lr
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
