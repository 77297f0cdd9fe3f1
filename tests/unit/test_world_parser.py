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
