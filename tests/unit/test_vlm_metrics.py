"""Validation of the VLM-world metrics (attnlab.vlm.metrics, vlm_design §5): ground-truth captions
score CHAIR 0 and recall 1, captions of shuffled images score high, hand-made cases give their
known counts; POPE and VQA on hand-made predictions."""

import numpy as np
import pandas as pd
import pytest

from attnlab.vlm import data as D
from attnlab.vlm import metrics as M
from attnlab.world.caption import caption
from attnlab.world.scene import Scene, Subject

PRIOR = D.make_prior(11, 0.6)


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(0)
    return [D.prior_scene(rng, PRIOR, 3) for _ in range(300)]


def test_ground_truth_captions_score_zero(scenes):
    got = M.chair([caption(s) for s in scenes], scenes, PRIOR.companion)
    assert got["chair_i"] == 0 and got["chair_s"] == 0 and got["recall"] == 1
    assert got["attribute_chair"] == 0 and got["n_unparseable"] == 0 and got["n_captions"] == 300
    assert got["n_mentions"] == sum(len(s.subjects) for s in scenes)
    for a in M.ATTRIBUTES:
        assert got[f"attribute_chair_{a}"] == 0
    assert np.isnan(got["prior_share"])  # no hallucination at all


def test_shuffled_captions_score_high(scenes):
    shuffled = [caption(s) for s in scenes[1:] + scenes[:1]]
    got = M.chair(shuffled, scenes, PRIOR.companion)
    assert got["chair_i"] > 0.6 and got["chair_s"] > 0.8 and got["recall"] < 0.4
    assert got["n_unparseable"] == 0  # well-formed, just wrong


def test_hand_made_caption():
    scene = Scene([Subject("circle", "red", 0.15, 0.2, 0.5), Subject("square", "blue", 0.15, 0.8, 0.2)], "day")
    case = M.caption_case("a red circle on the left and a green triangle on the top in the day", scene)
    assert (case["mentions"], case["hallucinated"], case["subjects"], case["recalled"]) == (2, 1, 2, 1)
    assert case["hallucinated_types"] == "green triangle" and not case["unparseable"]
    assert (case["attribute_claims"], case["attribute_wrong"]) == (4, 0)  # size, ring, position + background
    got = M.chair(["a red circle on the left and a green triangle on the top in the day"], [scene])
    assert got["chair_i"] == 0.5 and got["chair_s"] == 1 and got["recall"] == 0.5
    # every attribute wrong: big (truth medium), ring (none), right (left), night (day)
    case = M.caption_case("a big red circle with a ring on the right and a blue square on the top right at night",
                          scene)
    assert (case["hallucinated"], case["recalled"]) == (0, 2)
    assert {a: case[f"{a}_wrong"] for a in M.ATTRIBUTES} == {"size": 1, "ring": 1, "position": 1, "background": 1}
    assert {a: case[f"{a}_claims"] for a in M.ATTRIBUTES} == {"size": 2, "ring": 2, "position": 2, "background": 1}


def test_unparseable_captions_are_counted_not_dropped():
    scene = Scene([Subject("circle", "red", 0.15, 0.2, 0.5)], "day")
    caps = ["a red big circle in the day",  # shape 2 tokens after the colour: a mention, ungrammatical
            "red a big circle",  # 3 tokens: no mention
            "a red on the left in the day",  # dangling colour
            "a yellow circle on the left in the day",  # grammatical hallucination
            ""]
    df = M.chair_cases(caps, [scene] * 5)
    assert df.mentions.tolist() == [1, 0, 0, 1, 0] and df.hallucinated.tolist() == [0, 0, 0, 1, 0]
    assert df.unparseable.tolist() == [True, True, True, False, True]
    got = M.chair(caps, [scene] * 5)
    assert got["n_captions"] == 5 and got["n_unparseable"] == 4 and got["unparseable_rate"] == 0.8
    assert got["chair_i"] == 0.5 and got["chair_s"] == 0.2 and got["recall"] == 1 / 5
    assert M.parse_caption("nothing in fog").grammatical and M.parse_caption("nothing in fog").background == "fog"


def test_prior_share_counts_companion_hallucinations():
    o, c = next(iter(sorted(PRIOR.companion.items())))
    other = next(t for t in D.TYPES if t not in (o, c) and t not in PRIOR.companion.values()
                 and t.split()[0] not in (o.split()[0], c.split()[0]))
    scene = Scene([Subject(o.split()[1], o.split()[0], 0.15, 0.2, 0.5)], "day")
    caps = [f"a {o} on the left and a {c} on the right in the day", f"a {other} on the left in the day"]
    got = M.chair(caps, [scene, scene], PRIOR.companion)
    assert got["n_hallucinated"] == 2 and got["prior_share"] == 0.5


def test_mention_word_positions():
    p = M.parse_caption("a small red circle with a ring on the top left and a blue square in the center at night")
    assert [(m.type, m.index, m.shape_index, m.size, m.ring, m.position) for m in p.mentions] == [
        ("red circle", 2, 3, "small", True, "on the top left"), ("blue square", 13, 14, "", False, "in the center")]
    assert p.background == "night" and p.grammatical


def test_pope_hand_made():
    preds = ["yes", "Yes.", "no", "no", "maybe", "yes"]
    answers = ["yes", "no", "no", "yes", "yes", "yes"]
    s = M.pope_scores(preds, answers)
    # tp 2 (0, 5), fp 1 (1), fn 2 (3, 4: "other" is not a yes), tn 1 (2)
    assert s["accuracy"] == 3 / 6 and s["precision"] == 2 / 3 and s["recall"] == 2 / 4
    assert s["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5)) and s["yes_ratio"] == 3 / 6
    assert s["n_other"] == 1
    splits = ["random", "random", "popular", "popular", "adversarial", "adversarial"]
    got = M.pope(preds, answers, splits, prior_violating=[True, False, True, False, True, False])
    assert list(got) == ["random", "popular", "adversarial", "all", "prior_violating", "prior_consistent"]
    assert got["random"]["accuracy"] == 0.5 and got["popular"]["accuracy"] == 0.5
    assert got["adversarial"]["accuracy"] == 0.5 and got["all"] == s
    assert got["prior_violating"]["n"] == 3 and got["prior_violating"]["accuracy"] == 2 / 3
    assert M.pope_scores(["no", "no"], ["yes", "no"])["f1"] == 0.0
    np.testing.assert_array_equal(M.pope_correct(preds, answers), [1, 0, 1, 0, 0, 1])


def test_always_yes_has_yes_ratio_one_and_half_accuracy_on_balanced_pope():
    df = D.synthesize(4, PRIOR, n_train=0, n_dev=0, n_test=8)["test"]
    ex = df[df.task == "existence"]
    got = M.pope(["yes"] * len(ex), ex.answer, ex.pope_split)
    for s in D.POPE_SPLITS:
        assert got[s]["yes_ratio"] == 1 and got[s]["accuracy"] == 0.5


def test_vqa_exact_match_and_score_examples():
    got = M.vqa(["Red", "a  b", "x", "two"], ["red", "a b", "y", "two"], ["attribute", "caption", "attribute", "attribute"],
                ["color", "", "shape", "count"])
    assert got["attribute"] == {"accuracy": 2 / 3, "n": 3} and got["caption"] == {"accuracy": 1.0, "n": 1}
    assert got["attribute/shape"]["accuracy"] == 0 and got["attribute/color"]["accuracy"] == 1
    df = D.synthesize(4, PRIOR, n_train=0, n_dev=0, n_test=6)["test"]
    truth = M.score_examples(df, df.answer, PRIOR.companion)
    assert truth["chair"]["chair_i"] == 0 and truth["chair"]["recall"] == 1
    assert truth["pope"]["all"]["accuracy"] == 1 and all(v["accuracy"] == 1 for v in truth["vqa"].values())
    blind = M.score_examples(df, ["no"] * len(df), PRIOR.companion)
    assert blind["pope"]["all"]["accuracy"] == 0.5 and blind["chair"]["n_unparseable"] == 6
    with pytest.raises(ValueError):
        M.score_examples(df, ["no"], PRIOR.companion)
    assert isinstance(M.chair_cases([], []), pd.DataFrame)
