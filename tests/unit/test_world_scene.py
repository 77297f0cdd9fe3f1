import itertools
import json

import numpy as np
import pytest

from attnlab.world.caption import VOCAB, caption, subject_phrase, words_in_vocab
from attnlab.world.dataset import training_set
from attnlab.world.render import from_png, render, to_png
from attnlab.world.scene import BACKGROUNDS, COLORS, CORE_COLORS, CORES, RING_COLOR, Scene, Subject, fits, random_scene


def test_palette_is_well_separated():
    named = {**COLORS, **{f"bg_{k}": v for k, v in BACKGROUNDS.items()}, **CORE_COLORS, "ring": RING_COLOR}
    named.pop("white")  # the ring is white too: it never touches a core
    for (a, ca), (b, cb) in itertools.combinations(named.items(), 2):
        assert np.linalg.norm(np.subtract(ca, cb)) > 100, (a, b)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_random_scene_fits_and_round_trips(n):
    rng = np.random.default_rng(n)
    for _ in range(30):
        s = random_scene(rng, n)
        assert len(s.subjects) == n and fits(s.subjects)
        assert len({(x.color, x.shape) for x in s.subjects}) == n
        assert Scene.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_render_masks_boxes_and_colours():
    s = Scene([Subject("circle", "red", 0.2, 0.3, 0.3, "white", False),
               Subject("square", "blue", 0.2, 0.7, 0.7, "black", True)], "night")
    r = render(s, 32)
    assert r.image.shape == (32, 32, 3) and r.image.dtype == np.uint8
    assert r.masks.shape == (2, 32, 32) and not (r.masks[0] & r.masks[1]).any()
    for m, b in zip(r.masks, r.boxes):
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(b)
    # the circle: radius 6.4 px, about pi r^2 pixels; its centre shows the white core
    assert abs(r.masks[0].sum() - np.pi * 6.4**2) < 12
    assert tuple(r.image[9, 9]) == (255, 255, 255) and tuple(r.image[22, 22]) == (0, 0, 0)
    assert tuple(r.image[0, 0]) == BACKGROUNDS["night"]
    body = r.masks[0] & (np.linalg.norm(r.image.astype(int) - COLORS["red"], axis=-1) == 0)
    assert body.sum() > 0.8 * r.masks[0].sum()
    # the ring is white pixels inside the mask outside the body
    ring = r.masks[1] & (r.image == 255).all(-1)
    assert ring.sum() > 20
    np.testing.assert_array_equal(render(s, 32).image, r.image)  # deterministic
    np.testing.assert_array_equal(from_png(to_png(r.image)), r.image)


def test_core_is_hidden_from_the_caption_ring_is_not():
    a = Subject("triangle", "green", 0.2, 0.2, 0.5, "white", False)
    text = caption(Scene([a, Subject("circle", "yellow", 0.15, 0.8, 0.5)], "fog"))
    assert text == "a green triangle on the left and a yellow circle on the right in fog"
    for core in CORES:
        assert caption(Scene([Subject("triangle", "green", 0.2, 0.2, 0.5, core)], "day")) == \
            "a green triangle on the left in the day"
    assert subject_phrase(Subject("square", "blue", 0.24, 0.5, 0.5, "black", True)) == "a big blue square with a ring"
    assert "white" not in VOCAB and "black" not in VOCAB


def test_training_set_columns_and_vocab():
    df = training_set(60, seed=0, size=32)
    assert list(df.columns) == ["image", "caption", "scene"] and len(df) == 60
    assert all(words_in_vocab(c) for c in df.caption)
    row = df.iloc[0]
    scene = Scene.from_dict(json.loads(row.scene))
    np.testing.assert_array_equal(from_png(row.image), render(scene, 32).image)
    assert df.equals(training_set(60, seed=0, size=32))
    assert any(c.startswith("this is the") for c in df.caption)  # rule frames with Envision prompts


def test_subject_sizes_sets_the_ranges_within_the_block_only():
    from attnlab.world.scene import SIZE_RANGES, default_size_range, subject_sizes

    before = dict(SIZE_RANGES)
    with subject_sizes([[0.2, 0.21], [0.17, 0.18], [0.15, 0.16]]):
        assert default_size_range(2) == (0.17, 0.18) and default_size_range(5) == (0.15, 0.16)
        rng = np.random.default_rng(0)
        for k in (1, 2, 3):
            lo, hi = default_size_range(k)
            assert all(lo <= s.size <= hi for s in random_scene(rng, k).subjects)
    assert SIZE_RANGES == before
    with subject_sizes(None):
        assert SIZE_RANGES == before
    with pytest.raises(ValueError, match="subject_sizes"):
        with subject_sizes([[0.2, 0.1], [0.1, 0.2], [0.1, 0.2]]):
            pass
