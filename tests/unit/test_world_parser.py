import json

import numpy as np
import pytest

from attnlab.image_world.validate import validate
from attnlab.world.dataset import training_set
from attnlab.world.parser import fill_holes, label, parse, perturb
from attnlab.world.render import render
from attnlab.world.scene import BACKGROUNDS, Scene, Subject


def test_label_and_fill_holes_on_hand_made_masks():
    m = np.zeros((6, 6), bool)
    m[0:2, 0:2] = True
    m[3:6, 3:6] = True
    m[4, 4] = False  # a hole
    lab, k = label(m)
    assert k == 2 and len(np.unique(lab[m])) == 2 and (lab[~m] == 0).all()
    f = fill_holes(m)
    assert f[4, 4] and f.sum() == m.sum() + 1


def test_parse_reads_a_hand_made_scene_exactly():
    truth = Scene([Subject("circle", "red", 0.18, 0.25, 0.3, "white", False),
                   Subject("square", "blue", 0.2, 0.72, 0.3, "none", True),
                   Subject("triangle", "yellow", 0.17, 0.5, 0.75, "black", False)], "night")
    got = parse(render(truth, 32).image)
    assert got.background == "night" and len(got.subjects) == 3
    for t in truth.subjects:
        g = next(s for s in got.subjects if s.color == t.color)
        assert (g.shape, g.core, g.ring) == (t.shape, t.core, t.ring)
        assert abs(g.x - t.x) < 1.5 / 32 and abs(g.y - t.y) < 1.5 / 32
        assert abs(g.size / t.size - 1) < 0.15


def test_parse_empty_backgrounds():
    for bg, rgb in BACKGROUNDS.items():
        img = np.empty((32, 32, 3), np.uint8)
        img[:] = rgb
        assert parse(img) == Scene([], bg)
    with pytest.raises(ValueError):
        parse(np.zeros((32, 16, 3), np.uint8))


def test_validation_on_held_out_scenes_meets_target():
    acc = validate(80, seed=12345, size=32)
    assert acc["strict"] >= 0.9, acc
    for k in ("colour", "shape", "core", "count", "background"):
        assert acc[k] >= 0.95, (k, acc)


def test_degraded_images_score_lower_than_clean_ones():
    clean = validate(40, seed=7, size=32)
    bad = validate(40, seed=7, size=32, noise=30, blur=1.0)
    assert bad["strict"] < clean["strict"] - 0.2


def test_parser_scales_to_larger_images():
    df = training_set(15, seed=3, size=64)
    ok = 0
    for text in df.scene:
        truth = Scene.from_dict(json.loads(text))
        got = parse(render(truth, 64).image)
        ok += sorted((s.color, s.shape, s.core) for s in got.subjects) == \
            sorted((s.color, s.shape, s.core) for s in truth.subjects)
    assert ok >= 14


def test_perturb_is_seeded():
    img = render(Scene([Subject("circle", "green", 0.2, 0.5, 0.5)], "day"), 32).image
    a = perturb(img, np.random.default_rng(0), noise=10, blur=0.5)
    np.testing.assert_array_equal(a, perturb(img, np.random.default_rng(0), noise=10, blur=0.5))
    assert not np.array_equal(a, img)


def _pieces_by_dilation(cls, ci, core_lab):
    """The parser's first _pieces: one dilation per piece, one test per (component, piece) pair."""
    from attnlab.world.parser import dilate

    lab, k = label(cls == ci)
    parent = list(range(k + 1))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    grown = [None] + [dilate(lab == j) for j in range(1, k + 1)]
    for c in range(1, int(core_lab.max()) + 1):
        touching = [j for j in range(1, k + 1) if (grown[j] & (core_lab == c)).any()]
        for j in touching[1:]:
            parent[find(j)] = find(touching[0])
    groups = {}
    for j in range(1, k + 1):
        groups.setdefault(find(j), []).append(j)
    return [np.isin(lab, js) for js in groups.values()], [len(js) for js in groups.values()]


@pytest.mark.parametrize("kind", ["noise", "blurred scenes"])
def test_pieces_equal_the_per_piece_dilation_on_speckled_and_blurred_images(kind):
    """_pieces (one pass over the four shifts) joins exactly the pieces the per-piece dilation did,
    in the same order: on pure noise (an untrained generator's drawings, hundreds of pieces) and on
    blurred, noisy renders (cores and rings cutting subjects)."""
    from attnlab.world.parser import N_SUBJECT_COLORS, PALETTE_NAMES, _pieces, background_of, classify_pixels

    rng = np.random.default_rng(5)
    if kind == "noise":
        images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    else:
        df = training_set(6, seed=11, size=32)
        images = [perturb(render(Scene.from_dict(json.loads(t)), 32).image, rng, noise=25, blur=0.8) for t in df.scene]
    joined = 0
    for img in images:
        cls = classify_pixels(img)
        bg = PALETTE_NAMES.index("bg:" + background_of(img))
        core_lab, _ = label((cls != bg) & ((cls >= N_SUBJECT_COLORS) | (cls < 0)))
        for ci in range(N_SUBJECT_COLORS):
            masks, sizes = _pieces(cls, ci, core_lab)
            ref_masks, ref_sizes = _pieces_by_dilation(cls, ci, core_lab)
            assert sizes == ref_sizes
            for a, b in zip(masks, ref_masks, strict=True):
                np.testing.assert_array_equal(a, b)
            joined += sum(n > 1 for n in sizes)
    assert joined > 0  # some pieces were joined through a component, so the test saw the union
