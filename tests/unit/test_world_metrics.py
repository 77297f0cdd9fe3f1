import json

import numpy as np

from attnlab.world.dataset import training_set
from attnlab.world.metrics import caption_accuracy, consistency, fusion, mask_iou_aligned, match_subjects
from attnlab.world.parser import parse
from attnlab.world.render import render
from attnlab.world.scene import Scene, Subject, random_scene

RED_C = Subject("circle", "red", 0.15, 0.25, 0.5, "white")
BLUE_S = Subject("square", "blue", 0.15, 0.75, 0.5, "black")


def _truths(n=40, seed=0):
    return [Scene.from_dict(json.loads(t)) for t in training_set(n, seed, 32).scene]


def test_match_subjects_by_attributes_then_position():
    a = Scene([BLUE_S.moved(x=0.2), RED_C.moved(x=0.8)], "day")
    b = Scene([RED_C, BLUE_S], "day")
    assert match_subjects(a, b) == [(0, 1), (1, 0)]  # attributes beat position
    c = Scene([RED_C.moved(x=0.7), RED_C.moved(x=0.3)], "day")
    d = Scene([RED_C.moved(x=0.25), RED_C.moved(x=0.75)], "day")
    assert match_subjects(c, d) == [(0, 1), (1, 0)]  # same attributes: by position
    assert match_subjects(Scene([RED_C], "day"), b) == [(0, 0)]
    assert match_subjects(Scene([], "day"), b) == []


def test_caption_accuracy_truth_near_ceiling_shuffled_lower():
    truths = _truths()
    parsed = [parse(render(t, 32).image) for t in truths]
    right = np.mean([caption_accuracy(p, t)["strict"] for p, t in zip(parsed, truths)])
    shuffled = np.mean([caption_accuracy(p, t)["strict"] for p, t in zip(parsed, truths[1:] + truths[:1])])
    assert right >= 0.9 and shuffled <= 0.3, (right, shuffled)
    ca = caption_accuracy(Scene([RED_C.moved(color="green"), BLUE_S], "night"), Scene([RED_C, BLUE_S], "night"))
    assert ca["colour"] == 0.5 and ca["shape"] == 1 and ca["count"] == 1 and ca["strict"] == 0


def test_consistency_reads_the_hidden_core():
    assert consistency(RED_C, RED_C) == {"present": True, "core_match": True, "shape_match": True, "color_distance": 0.0}
    other = consistency(RED_C, RED_C.moved(core="black", color="orange"))
    assert not other["core_match"] and 0 < other["color_distance"] < 1
    assert consistency(RED_C, None)["color_distance"] == 1.0
    # through the renderer and parser: the same subject elsewhere keeps its core, a lookalike does not
    a = parse(render(Scene([RED_C], "day"), 32).image).subjects[0]
    b = parse(render(Scene([RED_C.moved(x=0.7, y=0.3)], "night"), 32).image).subjects[0]
    c = parse(render(Scene([RED_C.moved(core="black")], "day"), 32).image).subjects[0]
    assert consistency(a, b)["core_match"] and not consistency(a, c)["core_match"]


def test_mask_iou_aligned_ignores_position_and_scale_not_shape():
    small = render(Scene([Subject("square", "red", 0.15, 0.3, 0.3)], "day"), 64)
    big = render(Scene([Subject("square", "red", 0.3, 0.6, 0.6)], "day"), 64)
    tri = render(Scene([Subject("triangle", "red", 0.3, 0.6, 0.6)], "day"), 64)
    same = mask_iou_aligned(small.masks[0], small.boxes[0], big.masks[0], big.boxes[0])
    diff = mask_iou_aligned(small.masks[0], small.boxes[0], tri.masks[0], tri.boxes[0])
    assert same > 0.95 and diff < 0.75, (same, diff)
    assert mask_iou_aligned(small.masks[0], (0, 0, 0, 0), big.masks[0], big.boxes[0]) == 0.0


def test_fusion_detects_swaps_and_counts_not_truth():
    truth = Scene([RED_C, BLUE_S], "day")
    assert not fusion(truth, truth)
    assert fusion(Scene([RED_C.moved(shape="square"), BLUE_S.moved(shape="circle")], "day"), truth)
    assert fusion(Scene([RED_C], "day"), truth)
    assert not fusion(Scene([RED_C.moved(color="green"), BLUE_S], "day"), truth)  # wrong, not mixed
    rng = np.random.default_rng(1)
    truths = [random_scene(rng, 2) for _ in range(30)]
    rate_truth = np.mean([fusion(parse(render(t, 32).image), t) for t in truths])
    swapped = [Scene([a.moved(color=b.color), b.moved(color=a.color)], t.background)
               for t in truths for a, b in [t.subjects] if a.shape != b.shape]
    rate_swapped = np.mean([fusion(parse(render(s, 32).image), t) for s, t in
                            zip(swapped, [t for t in truths if t.subjects[0].shape != t.subjects[1].shape])])
    assert rate_truth <= 0.05 and rate_swapped >= 0.9, (rate_truth, rate_swapped)
