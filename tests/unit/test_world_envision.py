import json

import numpy as np
import pytest

from attnlab import AttnlabError
from attnlab.world.caption import caption, words_in_vocab
from attnlab.world.envision_prompts import read_envision, synthesize
from attnlab.world.envision_score import SUBSCORES, aggregate, score, score_images
from attnlab.world.parser import parse, perturb
from attnlab.world.render import render
from attnlab.world.rules import DOMAINS, ENVISION_RULES
from attnlab.world.scene import Scene


@pytest.fixture(scope="module")
def synth():
    return synthesize(12, seed=0)


def _frames(truth, rec):
    return [Scene.from_dict(f) for f in truth[str(rec["index"])]["frames"]]


def test_records_follow_envision_schema(synth):
    records, truth = synth
    assert [r["category"] for r in records[:6]] == list(DOMAINS)
    for rec in records:
        assert set(rec) == {"index", "category", "process_type", "prompts"}
        assert [p["step"] for p in rec["prompts"]] == [1, 2, 3, 4]
        frames = _frames(truth, rec)
        assert truth[str(rec["index"])]["rule"] == ENVISION_RULES[rec["category"]]
        for k, p in enumerate(rec["prompts"]):
            assert set(p) == {"step", "prompt", "explanation"}
            assert p["prompt"].startswith(f"this is the {k + 1}th event frame of a continuous four stage event sequence")
            assert p["prompt"].endswith(caption(frames[k]))
            assert words_in_vocab(p["prompt"]) and words_in_vocab(p["explanation"])
    assert json.loads(json.dumps(synth)) == [records, truth]
    assert synthesize(12, seed=0) == synth


def test_read_envision_round_trip_and_errors(synth, tmp_path):
    records, _ = synth
    path = tmp_path / "envision.json"
    path.write_text(json.dumps(records))
    assert read_envision(path) == records
    bad = [dict(records[0])]
    del bad[0]["process_type"]
    path.write_text(json.dumps(bad))
    with pytest.raises(AttnlabError, match=r"record 0 \(index 0\): missing keys \['process_type'\]"):
        read_envision(path)
    bad = [dict(records[0], prompts=records[0]["prompts"][:3])]
    path.write_text(json.dumps(bad))
    with pytest.raises(AttnlabError, match="4 stages"):
        read_envision(path)


def test_aggregate_reproduces_hand_computed_weights():
    sub = dict(zip(SUBSCORES, [4, 3, 2, 5, 4, 3, 2, 1, 0]))
    out = aggregate(sub)
    # C = .33*4 + .33*3 + .34*2 = 2.99; P = .33*5 + .33*4 + .34*3 = 3.99; A = .33*2 + .33*1 = 0.99
    assert out["consistency"] == pytest.approx(2.99)
    assert out["physicality"] == pytest.approx(3.99)
    assert out["aesthetics"] == pytest.approx(0.99)
    assert out["overall"] == pytest.approx(0.4 * 2.99 + 0.4 * 3.99 + 0.2 * 0.99)  # 2.99
    assert out["overall_100"] == pytest.approx(59.8)
    assert aggregate(dict.fromkeys(SUBSCORES, 5))["overall_100"] == pytest.approx(100)


def test_truth_near_ceiling_degraded_lower(synth):
    records, truth = synth
    rng = np.random.default_rng(0)
    good, reversed_, frozen, noisy = [], [], [], []
    for rec in records[:6]:
        entry, frames = truth[str(rec["index"])], _frames(truth, rec)
        ims = [render(f, 32).image for f in frames]
        s = score_images(ims, entry)
        assert set(SUBSCORES) <= set(s) and all(0 <= s[k] <= 5 for k in SUBSCORES)
        good.append(s["overall_100"])
        reversed_.append(score([parse(i) for i in ims[::-1]], frames, entry["rule"], ims[::-1])["overall_100"])
        frozen.append(score([parse(ims[0])] * 4, frames, entry["rule"], [ims[0]] * 4))
        noisy.append(score_images([perturb(i, rng, 30, 1.0) for i in ims], entry))
    assert min(good) >= 95, good
    assert np.mean(reversed_) < np.mean(good) - 10
    assert np.mean([f["overall_100"] for f in frozen]) < np.mean(good) - 10
    assert np.mean([f["factual"] for f in frozen]) < 2.5
    assert np.mean([n["aesthetics"] for n in noisy]) < 4.5  # the proxies see the artifacts


def test_score_without_images_leaves_aesthetics_undefined(synth):
    records, truth = synth
    frames = _frames(truth, records[0])
    s = score(frames, frames, truth["0"]["rule"])
    assert s["consistency"] == pytest.approx(5) and s["physicality"] == pytest.approx(5)
    assert np.isnan(s["aesthetics"]) and np.isnan(s["overall"])
