"""Read an image back into a scene graph: colour segmentation + shape classification.

Works on crisp renders and on small, noisy, blurry generated images alike:
1. background = the background colour nearest the median border pixel;
2. each pixel takes the nearest palette colour (subjects, backgrounds, white, black) when it lies
   within `tol` of it (else it stays unlabelled);
3. each subject colour splits into 4-connected pieces; pieces that touch one connected set of
   foreground pixels of no subject colour (a core dot, a ring, blurred mixtures) are joined, since
   a core can cut a small triangle in two; a segment is a subject when, with its holes filled
   (after a closing when joined), it has at least `min_area` pixels, a pixel whose four
   neighbours are all inside (not a thin edge), at least 30% of its filled area in its own colour,
   and does not enclose most of another segment (a halo of blur around another subject);
4. shape: a square when the segment fills its bounding box beyond SQUARE_FILL (midway between a
   circle's pi/4 and a square's 1; blur rounds corners but keeps the box full), else the template
   (circle / square / triangle of the same area at the centroid) with the highest IoU;
   size = the circumradius of that shape with the segment's area;
5. core = the majority of white / black / body-coloured pixels in a central disc of the core's
   radius (white or black only when they make at least 40% of the disc);
6. ring = at least half of a band around the filled segment is nearest to white.
"""

from __future__ import annotations

import numpy as np

from attnlab.world.render import pixel_grid, signed_distance
from attnlab.world.scene import BACKGROUNDS, COLORS, CORE_COLORS, CORE_FRACTION, RING_FRACTION, SHAPES, Scene, Subject

# The palette every pixel is classified against: subject colours first (indices < N_SUBJECT_COLORS),
# then the backgrounds ("bg:<name>"), then white and black (cores and rings).
PALETTE_NAMES = list(COLORS) + [f"bg:{k}" for k in BACKGROUNDS] + ["white", "black"]
PALETTE = np.array(list(COLORS.values()) + list(BACKGROUNDS.values()) + [CORE_COLORS["white"], CORE_COLORS["black"]],
                   float)
N_SUBJECT_COLORS = len(COLORS)
_WHITE, _BLACK = len(PALETTE_NAMES) - 2, len(PALETTE_NAMES) - 1
# area of a shape of circumradius 1
_AREA = {"circle": np.pi, "square": 2.0, "triangle": 3 * np.sqrt(3) / 4}
TOL = 110.0  # RGB distance beyond which a pixel belongs to no palette colour
CORE_SHARE = 0.4
RING_SHARE = 0.5
OWN_SHARE = 0.3


def _shift_min(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out[1:] = np.minimum(out[1:], a[:-1])
    out[:-1] = np.minimum(out[:-1], a[1:])
    out[:, 1:] = np.minimum(out[:, 1:], a[:, :-1])
    out[:, :-1] = np.minimum(out[:, :-1], a[:, 1:])
    return out


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean mask: (labels 1..k, 0 outside; k)."""
    H, W = mask.shape
    big = H * W + 1
    cur = np.where(mask, np.arange(H * W).reshape(H, W), big)
    while True:
        nxt = np.where(mask, _shift_min(cur), big)
        if np.array_equal(nxt, cur):
            break
        cur = nxt
    ids = np.unique(cur[mask])
    lab = np.zeros((H, W), np.int64)
    lab[mask] = np.searchsorted(ids, cur[mask]) + 1
    return lab, len(ids)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask plus every background region that does not reach the image border."""
    outside = ~mask
    reach = np.zeros_like(mask)
    reach[0, :], reach[-1, :], reach[:, 0], reach[:, -1] = outside[0, :], outside[-1, :], outside[:, 0], outside[:, -1]
    while True:
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= outside
        if np.array_equal(grown, reach):
            return ~reach
        reach = grown


def erode(mask: np.ndarray) -> np.ndarray:
    """Pixels whose four neighbours are all in the mask (the border counts as outside)."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[0, :] = out[-1, :] = out[:, 0] = out[:, -1] = False
    return out


def dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        m = out.copy()
        out[1:] |= m[:-1]
        out[:-1] |= m[1:]
        out[:, 1:] |= m[:, :-1]
        out[:, :-1] |= m[:, 1:]
    return out


def classify_pixels(image: np.ndarray, tol: float = TOL) -> np.ndarray:
    """Per pixel, the index of the nearest palette colour (see PALETTE_NAMES), or -1 beyond `tol`."""
    d = np.linalg.norm(image[..., None, :].astype(float) - PALETTE, axis=-1)
    idx = d.argmin(-1)
    return np.where(d.min(-1) <= tol, idx, -1)


def background_of(image: np.ndarray) -> str:
    """The background whose colour is nearest the median colour of the border pixels."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(float)
    med = np.median(border, axis=0)
    names = list(BACKGROUNDS)
    return names[int(np.argmin([np.linalg.norm(med - np.array(BACKGROUNDS[b])) for b in names]))]


SQUARE_FILL = (np.pi / 4 + 1) / 2  # box fill ratio midway between a circle's and a square's


def _classify_shape(filled: np.ndarray, cx: float, cy: float) -> tuple[str, float]:
    """(shape, circumradius in frame units): a segment filling its bounding box beyond
    SQUARE_FILL is a square (blur rounds a square's corners but keeps its box full); otherwise the
    same-area template at the centroid with the highest IoU."""
    H = filled.shape[0]
    gx, gy = pixel_grid(H)
    area = filled.sum() / H**2
    ys, xs = np.nonzero(filled)
    fill = len(xs) / ((np.ptp(xs) + 1) * (np.ptp(ys) + 1))
    best = ("circle", -1.0, 0.0)
    for shape in SHAPES:
        r = float(np.sqrt(area / _AREA[shape]))
        if fill >= SQUARE_FILL:
            if shape == "square":
                return shape, r
            continue
        tmpl = signed_distance(shape, gx - cx, gy - cy, r) <= 0
        iou = (tmpl & filled).sum() / max((tmpl | filled).sum(), 1)
        if iou > best[1]:
            best = (shape, iou, r)
    return best[0], best[2]


def closing(mask: np.ndarray, steps: int) -> np.ndarray:
    """Dilate then erode by `steps` 4-neighbour steps (padding keeps the frame edge neutral)."""
    p = np.pad(mask, steps + 1)
    p = dilate(p, steps)
    for _ in range(steps):
        q = p.copy()
        q[1:] &= p[:-1]
        q[:-1] &= p[1:]
        q[:, 1:] &= p[:, :-1]
        q[:, :-1] &= p[:, 1:]
        p = q
    return p[steps + 1:-steps - 1, steps + 1:-steps - 1]


def _pieces(cls: np.ndarray, ci: int, core_lab: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """Segments of colour ci, where pieces that touch one white/black component are joined
    (a core dot can cut a small triangle in two; a ring touches every piece of its subject).
    A piece touches a component when one of the component's pixels lies in the piece dilated by one
    4-neighbour step; the (component, piece) pairs come from one pass over the four shifts."""
    lab, k = label(cls == ci)
    parent = list(range(k + 1))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    piece = np.concatenate([lab.ravel(), lab[1:].ravel(), lab[:-1].ravel(), lab[:, 1:].ravel(), lab[:, :-1].ravel()])
    core = np.concatenate([core_lab.ravel(), core_lab[:-1].ravel(), core_lab[1:].ravel(),
                           core_lab[:, :-1].ravel(), core_lab[:, 1:].ravel()])
    both = (piece > 0) & (core > 0)
    pairs = np.unique(np.stack([core[both], piece[both]], axis=1), axis=0)  # by component, then piece
    for c in np.unique(pairs[:, 0]):
        touching = pairs[pairs[:, 0] == c, 1]
        for j in touching[1:]:
            parent[find(int(j))] = find(int(touching[0]))
    groups: dict[int, list[int]] = {}
    for j in range(1, k + 1):
        groups.setdefault(find(j), []).append(j)
    return [np.isin(lab, js) for js in groups.values()], [len(js) for js in groups.values()]


def segments(image: np.ndarray, tol: float = TOL, min_area: int | None = None) -> tuple[list[dict], np.ndarray]:
    """Subject segments (dicts with color, mask = own pixels, filled = holes filled, area) and
    the per-pixel palette classes."""
    image = np.asarray(image)
    H, W = image.shape[:2]
    if min_area is None:
        min_area = max(4, int(round(0.006 * H * W)))
    cls = classify_pixels(image, tol)
    bg = PALETTE_NAMES.index("bg:" + background_of(image))
    # joints: foreground pixels of no subject colour (cores, rings, blurred mixtures)
    core_lab, _ = label((cls != bg) & ((cls >= N_SUBJECT_COLORS) | (cls < 0)))
    cands = []
    for ci, color in enumerate(COLORS):
        masks, n_pieces = _pieces(cls, ci, core_lab)
        for own, n in zip(masks, n_pieces):
            if own.sum() < min_area / 2:
                continue
            filled = fill_holes(closing(own, 2) if n > 1 else own)
            area = int(filled.sum())
            if area < min_area or not erode(filled).any() or own.sum() < OWN_SHARE * area:
                continue
            cands.append({"color": color, "mask": own, "filled": filled, "area": area})
    # a segment that encloses most of another one is a halo of blur around it, not a subject
    out = [c for c in cands if not any(o is not c and (c["filled"] & o["mask"]).sum() >= 0.5 * o["mask"].sum()
                                       for o in cands)]
    return out, cls


def parse(image: np.ndarray, tol: float = TOL, min_area: int | None = None) -> Scene:
    """The scene graph shown by an (H, W, 3) uint8 image (square), subjects ordered left to right."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square (H, W, 3) image, got shape {image.shape}")
    H = image.shape[0]
    segs, cls = segments(image, tol, min_area)
    gx, gy = pixel_grid(H)
    subjects = []
    for seg in segs:
        filled = seg["filled"]
        cx, cy = float(gx[filled].mean()), float(gy[filled].mean())
        shape, r = _classify_shape(filled, cx, cy)
        ci = list(COLORS).index(seg["color"])
        # core: vote in a central disc among body colour, white and black
        disc = filled & (np.hypot(gx - cx, gy - cy) <= max(CORE_FRACTION * r, 1.2 / H))
        if not disc.any():
            disc = filled & (np.hypot(gx - cx, gy - cy) <= np.hypot(gx - cx, gy - cy)[filled].min() + 1e-9)
        px = image[disc].astype(float)
        cand = np.stack([PALETTE[ci], PALETTE[_WHITE], PALETTE[_BLACK]])
        votes = np.bincount(np.linalg.norm(px[:, None] - cand, axis=-1).argmin(1), minlength=3) / len(px)
        core = "none"
        if max(votes[1], votes[2]) >= CORE_SHARE:
            core = "white" if votes[1] >= votes[2] else "black"
        # ring: a band around the filled segment mostly white
        width = max(1, int(round(RING_FRACTION * r * H)))
        band = dilate(filled, width) & ~filled
        ring = bool(band.any() and (cls[band] == _WHITE).mean() >= RING_SHARE)
        subjects.append(Subject(shape, seg["color"], r, cx, cy, core, ring))
    subjects.sort(key=lambda s: (s.x, s.y))
    return Scene(subjects, background_of(image))


def perturb(image: np.ndarray, rng: np.random.Generator, noise: float = 0.0, blur: float = 0.0) -> np.ndarray:
    """A render degraded like a small generator's output: Gaussian blur (radius in pixels), then
    Gaussian pixel noise (standard deviation in 0-255 units)."""
    from PIL import Image, ImageFilter

    out = np.asarray(image)
    if blur > 0:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(blur)))
    out = out.astype(float)
    if noise > 0:
        out = out + rng.normal(0, noise, out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)

