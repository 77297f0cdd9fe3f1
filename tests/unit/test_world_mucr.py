import json
from dataclasses import replace

import numpy as np
import pytest

from attnlab import AttnlabError
from attnlab.io import write_parquet
from attnlab.world.caption import words_in_vocab
from attnlab.world.mucr import (
    EXTRA,
    SCHEMA,
    evaluate_levels,
    pair_validity,
    read_mucr,
    rule_engine_image_choice,
    rule_engine_phrase_choice,
    synthesize,
)
from attnlab.world.parser import parse
from attnlab.world.render import render
from attnlab.world.rules import RULES
from attnlab.world.scene import Scene


@pytest.fixture(scope="module")
def pairs():
    return synthesize(24, seed=0, size=32)


def test_schema_and_content(pairs):
    assert list(pairs.columns) == SCHEMA + EXTRA
    assert sorted(pairs.label.unique()) == ["action", "appearance", "clothing", "environment"]
    for row in pairs.itertuples():
        assert len(row.false_cue) == 3 and row.cue not in row.false_cue
        assert all(words_in_vocab(t) for t in (row.cause, row.effect, row.cue, row.causal_reason, *row.false_cue))
        assert RULES[row.rule].cue == row.cue and RULES[row.rule].cue_type == row.label
        s0, s1 = (Scene.from_dict(json.loads(s)) for s in (row.scene_0, row.scene_1))
        assert s0.subjects[0].core == s1.subjects[0].core  # identity kept across the pair
    assert synthesize(24, seed=0, size=32).equals(pairs)


def test_read_mucr_round_trip_and_bad_schema(pairs, tmp_path):
    path = tmp_path / "mucr.parquet"
    write_parquet(path, pairs)
    df = read_mucr(path)
    scene = Scene.from_dict(json.loads(df.scene_0[0]))
    np.testing.assert_array_equal(df.image_0[0], render(scene, 32).image)
    assert df.false_cue[0] == list(pairs.false_cue[0])
    write_parquet(tmp_path / "bad.parquet", pairs.drop(columns=["cue", "image_1"]))
    with pytest.raises(AttnlabError, match=r"missing columns \['cue', 'image_1'\]"):
        read_mucr(tmp_path / "bad.parquet")
    with pytest.raises(AttnlabError, match="missing input file"):
        read_mucr(tmp_path / "nope.parquet")


def test_rule_engine_near_ceiling_random_near_chance(pairs):
    rule = evaluate_levels(pairs, "rule_engine", np.random.default_rng(0))
    assert rule["image_level"] >= 0.9 and rule["phrase_level"] >= 0.9, rule
    rand = [evaluate_levels(pairs, "random", np.random.default_rng(s)) for s in range(5)]
    for level in ("image_level", "phrase_level"):
        assert 0.1 <= np.mean([r[level] for r in rand]) <= 0.45
    assert len(rule["image_correct"]) == len(pairs) and rule["chance"] == 0.25


def test_unchanged_effects_defeat_the_rule_engine(pairs):
    frozen = pairs.copy()
    frozen["image_1"] = frozen["image_0"]
    res = evaluate_levels(frozen, "rule_engine", np.random.default_rng(0))
    assert res["phrase_level"] <= 0.6, res


def test_hand_made_choices():
    rule = RULES["fall"]
    scene = rule.initial_scene(np.random.default_rng(4))
    frames = rule.frames(scene)
    cause, effect = render(frames[0], 32).image, render(frames[-1], 32).image
    other = render(replace(frames[-1], background="night" if scene.background == "day" else "day"), 32).image
    assert rule_engine_image_choice(cause, [other, effect]) == 1
    cues = ["night falls", "falls down", "ripens", "puts on a ring"]
    assert rule_engine_phrase_choice(cause, effect, cues) == 1
    assert rule_engine_phrase_choice(cause, effect, ["an unknown cue", "falls down"]) == 1


def test_pair_validity(pairs):
    row = pairs.iloc[1]
    s0, s1 = (Scene.from_dict(json.loads(s)) for s in (row.scene_0, row.scene_1))
    p0, p1 = parse(render(s0, 32).image), parse(render(s1, 32).image)
    assert pair_validity(p0, p1, s0, s1, row.rule) == {"identity": True, "cue": True, "valid": True}
    assert not pair_validity(p0, p0, s0, s1, row.rule)["cue"]
    core = {"none": "white", "white": "black", "black": "none"}[s1.subjects[0].core]
    lookalike = parse(render(Scene([replace(s1.subjects[0], core=core)], s1.background), 32).image)
    assert not pair_validity(p0, lookalike, s0, s1, row.rule)["identity"]
    # identity is the core the cause image shows, not the (uncaptioned) true one
    redrawn = [parse(render(Scene([replace(s.subjects[0], core=core)], s.background), 32).image) for s in (s0, s1)]
    assert pair_validity(*redrawn, s0, s1, row.rule)["identity"]
