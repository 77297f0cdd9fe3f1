"""Matplotlib set-up shared by every figure: headless backend, atomic PNG writes."""

from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attnlab.io import atomic_path  # noqa: E402


def save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def subplots(*args, **kwargs):
    return plt.subplots(*args, **kwargs)


def sample_grid(rows: list[list[np.ndarray]], row_labels: list[str], col_labels: list[str], title: str,
                path: str, cell_titles: list[list[str]] | None = None) -> None:
    """A grid of images (rows × columns) with row and column labels (or a title per cell), saved as
    a PNG figure."""
    n_r, n_c = len(rows), max(len(r) for r in rows)
    fig, axes = subplots(n_r, n_c, figsize=(1.2 * n_c + 1.2, (1.6 if cell_titles else 1.25) * n_r + 0.6), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_c):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row) and row[j] is not None:
                ax.imshow(row[j], interpolation="nearest")
            else:
                ax.axis("off")
            if cell_titles is not None and j < len(cell_titles[i]):
                ax.set_title(cell_titles[i][j], fontsize=5)
            elif i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=6)
        axes[i][0].set_ylabel(row_labels[i], fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=8)
    save(fig, path)
