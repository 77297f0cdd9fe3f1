"""Subject masks of a generated image: the stand-in for a detector + segmenter. The world parser
reads the image; each expected subject matched by the parser gets the mask of what was drawn,
an unmatched one falls back to the mask of its place in the intended layout. Without an expected
scene (real data, no ground truth) the subjects are whatever the parser finds."""

from __future__ import annotations

import numpy as np

from attnlab.world.metrics import matched
from attnlab.world.parser import parse
from attnlab.world.render import render
from attnlab.world.scene import Scene


def subject_masks(image: np.ndarray, expected: Scene | None) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """(masks (n, H, W) bool, boxes (n, 4) x0, y0, x1, y1, found per subject) for the subjects of
    `expected` (None: of the parsed image), in its order, at the image's resolution."""
    parsed = parse(image)
    expected = parsed if expected is None else expected
    got = matched(parsed, expected)
    subjects = [g if g is not None else e for g, e in zip(got, expected.subjects)]
    r = render(Scene(subjects, expected.background), int(image.shape[0]))
    return r.masks.astype(bool), np.asarray(r.boxes), [g is not None for g in got]
