"""One seed per (experiment, variant, seed index): derived by hashing, never shared by accident."""

from __future__ import annotations

import hashlib
import random


def derive_seed(base: int, *parts) -> int:
    """A 31-bit seed from a base seed and any labels, e.g. derive_seed(1234, "ocr", "data", 0)."""
    key = "/".join([str(base), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass
