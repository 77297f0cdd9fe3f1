"""Crisp renders of scenes: the image plus each subject's mask and box (the ground truth a
detector + segmenter would give for a real image). Pixel-exact, no antialiasing, deterministic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlab.world.scene import (
    BACKGROUNDS,
    COLORS,
    CORE_COLORS,
    CORE_FRACTION,
    RING_COLOR,
    RING_FRACTION,
    Scene,
    Subject,
)

_COS30 = np.sqrt(3) / 2


@dataclass
class Render:
    image: np.ndarray  # (H, W, 3) uint8
    masks: np.ndarray  # (n, H, W) bool: each subject's shape + ring, in scene order
    boxes: np.ndarray  # (n, 4) int: x0, y0, x1, y1 with x1, y1 exclusive (slice bounds)


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame coordinates (x, y) of the pixel centres, each (size, size)."""
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="xy")


def signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Distance outside the shape (negative inside; mitred at polygon corners), circumradius r."""
    if shape == "circle":
        return np.hypot(dx, dy) - r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - r / np.sqrt(2)
    if shape == "triangle":  # apex up (towards y = 0), centroid at the centre
        return np.maximum.reduce([dy, _COS30 * dx - 0.5 * dy, -_COS30 * dx - 0.5 * dy]) - r / 2
    raise ValueError(f"unknown shape {shape!r}")


def subject_layers(subject: Subject, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(body, ring, core) boolean masks of one subject on a size x size grid."""
    gx, gy = pixel_grid(size)
    dx, dy = gx - subject.x, gy - subject.y
    sd = signed_distance(subject.shape, dx, dy, subject.size)
    body = sd <= 0
    ring = np.zeros_like(body)
    if subject.ring:
        ring = (sd > 0) & (sd <= max(RING_FRACTION * subject.size, 1.0 / size))
    core = np.zeros_like(body)
    if subject.core != "none":
        core = body & (np.hypot(dx, dy) <= max(CORE_FRACTION * subject.size, 1.2 / size))
    return body, ring, core


def render(scene: Scene, size: int = 32) -> Render:
    """Paint the background, then each subject (ring, body, core) in scene order."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = BACKGROUNDS[scene.background]
    masks = np.zeros((len(scene.subjects), size, size), bool)
    boxes = np.zeros((len(scene.subjects), 4), np.int64)
    for i, s in enumerate(scene.subjects):
        body, ring, core = subject_layers(s, size)
        image[ring] = RING_COLOR
        image[body] = COLORS[s.color]
        if s.core != "none":
            image[core] = CORE_COLORS[s.core]
        masks[i] = body | ring
        boxes[i] = mask_box(masks[i])
    return Render(image, masks, boxes)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of a mask's pixels, x1/y1 exclusive; zeros for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros(4, np.int64)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.int64)


def to_png(image: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def from_png(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 array of PNG (or any PIL-readable) bytes."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), np.uint8).copy()
