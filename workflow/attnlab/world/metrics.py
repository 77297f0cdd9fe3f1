"""World metrics that need no pretrained model: they compare a parsed scene graph with the truth.

- caption_accuracy: stands in for CLIP-score (does the image show what the caption says?);
- consistency: hidden-identity match and colour distance of one subject against a reference;
- mask_iou_aligned: shape agreement of two masks once their boxes are aligned;
- fusion: wrong object count, or attributes mixed between subjects.
"""

from __future__ import annotations

import itertools

import numpy as np

from attnlab.world.caption import position_phrase
from attnlab.world.scene import COLORS, Scene, Subject

MAX_RGB_DISTANCE = float(np.sqrt(3) * 255)


def _pair_cost(s: Subject, t: Subject) -> float:
    # attribute mismatches dominate (each costs more than any distance in the frame)
    return 2.0 * (s.color != t.color) + 2.0 * (s.shape != t.shape) + float(np.hypot(s.x - t.x, s.y - t.y))


def match_subjects(a: Scene, b: Scene) -> list[tuple[int, int]]:
    """Pairs (i, j) of a.subjects[i] <-> b.subjects[j]: one-to-one, min(len) pairs, minimising
    mismatched colours and shapes first and then centre distance (exact search up to 7 subjects,
    greedy beyond)."""
    A, B = a.subjects, b.subjects
    if not A or not B:
        return []
    cost = np.array([[_pair_cost(s, t) for t in B] for s in A])
    swap = len(A) > len(B)
    if swap:
        cost = cost.T
    n, m = cost.shape
    if m <= 7:
        best, best_perm = np.inf, None
        for perm in itertools.permutations(range(m), n):
            c = cost[np.arange(n), perm].sum()
            if c < best - 1e-12:
                best, best_perm = c, perm
        pairs = list(zip(range(n), best_perm))
    else:
        pairs, used_i, used_j = [], set(), set()
        for flat in np.argsort(cost, axis=None, kind="stable"):
            i, j = divmod(int(flat), m)
            if i not in used_i and j not in used_j:
                pairs.append((i, j))
                used_i.add(i)
                used_j.add(j)
    pairs = [(j, i) for i, j in pairs] if swap else pairs
    return sorted((int(i), int(j)) for i, j in pairs)


def matched(parsed: Scene, truth: Scene) -> list[Subject | None]:
    """For each truth subject, its matched parsed subject (None when there is none)."""
    out: list[Subject | None] = [None] * len(truth.subjects)
    for i, j in match_subjects(parsed, truth):
        out[j] = parsed.subjects[i]
    return out


def caption_accuracy(parsed: Scene, truth: Scene) -> dict:
    """How much of the true caption the parsed image shows.

    colour / shape / ring / position: fraction of truth subjects whose matched parsed subject has
    the right colour / shape / ring / position phrase (an unmatched subject counts as wrong);
    count, background: 1.0 or 0.0; strict: 1.0 when count, background and every subject's colour,
    shape and ring are right (position is reported but not part of strict).
    """
    got = matched(parsed, truth)
    n = max(len(truth.subjects), 1)

    def frac(pred) -> float:
        if not truth.subjects:
            return 1.0 if not parsed.subjects else 0.0
        return sum(g is not None and pred(g, t) for g, t in zip(got, truth.subjects)) / n

    out = {
        "colour": frac(lambda g, t: g.color == t.color),
        "shape": frac(lambda g, t: g.shape == t.shape),
        "ring": frac(lambda g, t: g.ring == t.ring),
        "position": frac(lambda g, t: position_phrase(g.x, g.y) == position_phrase(t.x, t.y)),
        "count": float(len(parsed.subjects) == len(truth.subjects)),
        "background": float(parsed.background == truth.background),
    }
    out["strict"] = float(out["count"] == 1 and out["background"] == 1 and out["colour"] == 1
                          and out["shape"] == 1 and out["ring"] == 1)
    return out


def color_distance(a: str, b: str) -> float:
    """RGB distance of two palette colours, as a fraction of black-to-white."""
    return float(np.linalg.norm(np.subtract(COLORS[a], COLORS[b]))) / MAX_RGB_DISTANCE


def consistency(ref: Subject, got: Subject | None) -> dict:
    """Is `got` the same individual as `ref`? core_match (the hidden identity attribute),
    color_distance (0 same palette colour .. 1 black vs white; 1.0 when missing), shape_match,
    present."""
    if got is None:
        return {"present": False, "core_match": False, "shape_match": False, "color_distance": 1.0}
    return {"present": True, "core_match": got.core == ref.core, "shape_match": got.shape == ref.shape,
            "color_distance": color_distance(ref.color, got.color)}


def mask_iou_aligned(mask_a: np.ndarray, box_a, mask_b: np.ndarray, box_b) -> float:
    """IoU of mask_a inside box_a with mask_b inside box_b rescaled (nearest neighbour) onto
    box_a: the shape agreement of two subjects whatever their position and scale. Boxes are
    (x0, y0, x1, y1) with exclusive ends; 0.0 when either box is empty."""
    from PIL import Image

    ax0, ay0, ax1, ay1 = (int(v) for v in box_a)
    bx0, by0, bx1, by1 = (int(v) for v in box_b)
    if ax1 <= ax0 or ay1 <= ay0 or bx1 <= bx0 or by1 <= by0:
        return 0.0
    a = np.asarray(mask_a, bool)[ay0:ay1, ax0:ax1]
    b = np.asarray(mask_b, bool)[by0:by1, bx0:bx1]
    b = np.asarray(Image.fromarray(b.astype(np.uint8) * 255).resize((ax1 - ax0, ay1 - ay0), Image.NEAREST)) > 127
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


def fusion(parsed: Scene, truth: Scene) -> bool:
    """Subject fusion: the wrong number of subjects, or a parsed subject whose colour and shape
    both occur in the truth but never together (attributes swapped or mixed between subjects)."""
    if len(parsed.subjects) != len(truth.subjects):
        return True
    pairs = {(t.color, t.shape) for t in truth.subjects}
    colors = {t.color for t in truth.subjects}
    shapes = {t.shape for t in truth.subjects}
    return any((s.color, s.shape) not in pairs and s.color in colors and s.shape in shapes
               for s in parsed.subjects)
