"""CAB's efficiency length (scripts/efficiency_length/efficiency_length.py): fit vanilla's time
against length with a quadratic and an efficient attention's with a line; the efficiency length
is where they cross, beyond which the efficient attention is the cheaper."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def efficiency_length(lengths: Sequence[float], vanilla: Sequence[float], efficient: Sequence[float]) -> float | None:
    """The length beyond which the linear fit of `efficient` stays below the quadratic fit of
    `vanilla`: the largest real root of quad − line. 0.0 when the line is below the quadratic at
    every positive length; None when the quadratic does not grow faster than the line (its L²
    coefficient is not positive: no crossover to report)."""
    L = np.asarray(lengths, dtype=float)
    a, b, c = np.polyfit(L, np.asarray(vanilla, dtype=float), 2)
    m, n = np.polyfit(L, np.asarray(efficient, dtype=float), 1)
    if not a > 0:
        return None
    roots = [r.real for r in np.roots([a, b - m, c - n]) if abs(r.imag) < 1e-9 * max(1.0, abs(r.real))]
    positive = [r for r in roots if r > 0]
    if not positive:
        return 0.0
    return float(max(positive))


def show_length(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "none (vanilla not quadratic)"
    return f"{x:,.0f}"
