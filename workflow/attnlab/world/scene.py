"""Scene graphs of the image world: coloured shapes on a background, with hidden identity.

Coordinates are fractions of the frame: x to the right, y downwards, both in [0, 1].
`Subject.size` is the circumradius (a fraction of the frame side) of the shape; squares and
triangles are inscribed in that circle. `core` is a hidden identity attribute (a central dot)
that captions never mention; `ring` is a visible accessory (a white outline) that they do.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

import numpy as np

# Well separated in RGB (pairwise distance >= 106) and far from every background and from the
# core / ring colours; see tests/unit/test_world_scene.py.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 40),
    "green": (30, 165, 60),
    "blue": (40, 80, 225),
    "yellow": (245, 235, 50),
    "purple": (145, 50, 200),
    "orange": (250, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
CORES = ("none", "white", "black")  # hidden identity: never captioned
CORE_COLORS: dict[str, tuple[int, int, int]] = {"white": (255, 255, 255), "black": (0, 0, 0)}
RING_COLOR = (255, 255, 255)
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "day": (150, 200, 235),
    "night": (40, 40, 100),
    "fog": (128, 128, 128),
}

CORE_FRACTION = 0.3  # core dot radius / subject circumradius
RING_FRACTION = 0.3  # ring width / subject circumradius
# Farthest reach of a ringed subject from its centre, in circumradii (a triangle's mitred
# vertex reaches r + 2 * ring width).
RING_REACH = 1.0 + 2 * RING_FRACTION
MARGIN = 0.03  # subjects keep this far from the frame edge
GAP = 0.06  # and this far from each other (about 2 pixels at 32 x 32)
_EPS = 1e-9


@dataclass
class Subject:
    shape: str
    color: str
    size: float
    x: float
    y: float
    core: str = "none"
    ring: bool = False

    def reach(self) -> float:
        """Farthest extent from the centre (frame fraction), ring included."""
        return self.size * (RING_REACH if self.ring else 1.0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"], d["x"], d["y"] = float(self.size), float(self.x), float(self.y)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Subject":
        return cls(shape=str(d["shape"]), color=str(d["color"]), size=float(d["size"]),
                   x=float(d["x"]), y=float(d["y"]), core=str(d.get("core", "none")),
                   ring=bool(d.get("ring", False)))

    def moved(self, **changes) -> "Subject":
        return replace(self, **changes)


@dataclass
class Scene:
    subjects: list[Subject] = field(default_factory=list)
    background: str = "day"

    def to_dict(self) -> dict:
        return {"subjects": [s.to_dict() for s in self.subjects], "background": self.background}

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        return cls([Subject.from_dict(s) for s in d["subjects"]], str(d["background"]))

    def copy(self, **changes) -> "Scene":
        out = Scene([replace(s) for s in self.subjects], self.background)
        return replace(out, **changes) if changes else out


def fits(subjects: list[Subject]) -> bool:
    """Every subject inside the frame (with MARGIN) and clear of the others (GAP)."""
    for i, s in enumerate(subjects):
        r = s.reach()
        lo, hi = MARGIN + r - _EPS, 1 - MARGIN - r + _EPS
        if not (lo <= s.x <= hi and lo <= s.y <= hi):
            return False
        for t in subjects[:i]:
            if np.hypot(s.x - t.x, s.y - t.y) < r + t.reach() + GAP - _EPS:
                return False
    return True


# Circumradii (frame fractions) of random scenes' subjects per subject count (4 or more: the entry
# for 3): sizes that fit n subjects in one frame and stay legible at 32 x 32.
SIZE_RANGES: dict[int, tuple[float, float]] = {1: (0.13, 0.25), 2: (0.12, 0.2), 3: (0.12, 0.16)}


@contextmanager
def subject_sizes(ranges: list | None):
    """Within the block, random scenes of n subjects draw circumradii from ranges[n - 1] (one
    [lo, hi] per subject count 1, 2, 3; config `vision.subject_sizes`); None keeps SIZE_RANGES."""
    if ranges is None:
        yield
        return
    if len(ranges) != 3 or any(len(r) != 2 or not 0 < r[0] <= r[1] < 0.5 for r in ranges):
        raise ValueError(f"vision.subject_sizes: three [lo, hi] circumradius ranges (0 < lo <= hi < 0.5) "
                         f"for 1, 2 and 3 subjects, got {ranges!r}")
    saved = dict(SIZE_RANGES)
    SIZE_RANGES.update({i + 1: (float(lo), float(hi)) for i, (lo, hi) in enumerate(ranges)})
    try:
        yield
    finally:
        SIZE_RANGES.clear()
        SIZE_RANGES.update(saved)


def default_size_range(n_subjects: int) -> tuple[float, float]:
    """The SIZE_RANGES entry of n subjects."""
    return SIZE_RANGES.get(n_subjects, SIZE_RANGES[3])


def random_scene(rng: np.random.Generator, n_subjects: int, *, size_range: tuple[float, float] | None = None,
                 backgrounds: tuple[str, ...] | None = None, ring_prob: float = 0.2,
                 distinct_colors: bool = True, max_tries: int = 2000) -> Scene:
    """A random scene: non-overlapping subjects inside the frame, distinct (colour, shape) each.

    With `distinct_colors` (the default) no two subjects share a colour either, so a parsed
    colour names its subject (attribute binding is then well defined).
    """
    if n_subjects < 0 or n_subjects > len(COLORS):
        raise ValueError(f"n_subjects must be in 0..{len(COLORS)}, got {n_subjects}")
    lo, hi = size_range or default_size_range(n_subjects)
    bgs = tuple(backgrounds or BACKGROUNDS)
    background = bgs[rng.integers(len(bgs))]
    colors = list(COLORS)
    for _ in range(max_tries):
        if distinct_colors:
            cs = [colors[i] for i in rng.permutation(len(colors))[:n_subjects]]
            pairs = [(SHAPES[rng.integers(len(SHAPES))], c) for c in cs]
        else:
            combos = [(s, c) for s in SHAPES for c in colors]
            pairs = [combos[i] for i in rng.permutation(len(combos))[:n_subjects]]
        subjects = []
        for shape, color in pairs:
            size = float(rng.uniform(lo, hi))
            ring = bool(rng.random() < ring_prob)
            reach = size * (RING_REACH if ring else 1.0)
            span = 1 - 2 * (MARGIN + reach)
            if span <= 0:
                break
            x, y = (MARGIN + reach + span * rng.random(2)).tolist()
            subjects.append(Subject(shape, color, size, x, y, CORES[rng.integers(len(CORES))], ring))
        if len(subjects) == n_subjects and fits(subjects):
            return Scene(subjects, background)
    raise ValueError(f"could not place {n_subjects} subjects of size {lo}-{hi} in {max_tries} tries")
