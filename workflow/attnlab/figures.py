"""Matplotlib set-up shared by every figure: headless backend, atomic PNG writes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attnlab.io import atomic_path  # noqa: E402


def save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def subplots(*args, **kwargs):
    return plt.subplots(*args, **kwargs)
