"""The VLM-world generator (attnlab.vlm.data, vlm_design §3): every answer recomputed from the
scene graph, POPE negatives of the right split, the co-occurrence prior's frequency, patch indices
against the render masks, disjoint splits, determinism."""

import json
from collections import Counter

import numpy as np
import pytest

from attnlab import AttnlabError
from attnlab.vlm import data as D
from attnlab.world.caption import caption, position_phrase
from attnlab.world.render import from_png, render
from attnlab.world.scene import fits

PRIOR = D.make_prior(11, 0.6)


@pytest.fixture(scope="module")
def splits():
    return D.synthesize(5, PRIOR, n_train=60, n_dev=24, n_test=48, causal_fraction=0.25)


def _rows(splits):
    for df in splits.values():
        yield from df.itertuples(index=False)


def test_companion_map_shape():
    comp = PRIOR.companion
    assert len(comp) == 12 and len(PRIOR.hubs) == 6
    assert Counter(comp.values()) == {h: 2 for h in PRIOR.hubs}  # many-to-one: two non-hubs per hub
    assert not set(PRIOR.hubs) & set(comp)  # hubs have no companion
    for t, c in comp.items():
        assert t.split()[0] != c.split()[0] and t.split()[1] != c.split()[1]
    assert D.make_prior(11, 0.6) == PRIOR and D.make_prior(12, 0.6).companion != comp
    assert D.Prior.from_dict(json.loads(json.dumps(PRIOR.to_dict()))) == PRIOR
    with pytest.raises(AttnlabError, match="prior_strength"):
        D.make_prior(0, 1.5)


@pytest.mark.parametrize("strength", [0.0, 0.6, 0.9])
def test_prior_frequency_is_prior_strength(strength):
    """Among present non-hubs whose companion does not come before them, the companion follows with
    frequency prior_strength (binomial 4-sigma band over 3000 scenes); counting every present
    non-hub, P(c(o) | o) is at most 10 points above it (chance co-occurrence); hubs are the most frequent types."""
    prior = D.make_prior(3, strength)
    rng = np.random.default_rng(0)
    follows, eligible, raw, present, counts = 0, 0, 0, 0, Counter()
    for _ in range(3000):
        types = D.prior_types(rng, prior, 3)
        assert 1 <= len(types) <= 3 and len({t.split()[0] for t in types}) == len(types)
        counts.update(types)
        for i, t in enumerate(types):
            c = prior.companion.get(t)
            if c is None:
                continue
            present += 1
            raw += c in types
            if c not in types[:i]:
                eligible += 1
                follows += c in types[i + 1:]
                if c in types[i + 1:]:
                    assert types[i + 1] == c  # the companion comes right after its type
    freq = follows / eligible
    assert abs(freq - strength) <= 4 * np.sqrt(max(strength * (1 - strength), 1e-4) / eligible) + 1e-9
    assert strength <= raw / present <= strength + 0.1
    if strength > 0:
        top = sorted(D.TYPES, key=lambda t: -counts[t])[:6]
        assert sorted(top) == sorted(prior.hubs)


def test_scenes_keep_the_world_rules():
    rng = np.random.default_rng(1)
    for _ in range(50):
        s = D.prior_scene(rng, PRIOR, 3)
        assert 1 <= len(s.subjects) <= 3 and fits(s.subjects)
        assert len({x.color for x in s.subjects}) == len(s.subjects)


def test_schema_sizes_and_mixes(splits):
    assert list(splits) == ["train", "dev", "test"]
    for name, df in splits.items():
        assert list(df.columns) == D.SCHEMA and (df.split == name).all() and df.id.is_unique
    train, test = splits["train"], splits["test"]
    assert Counter(train.stage) == {"T": 60, "A": 60, "S": 60}
    T, A, S = (train[train.stage == s] for s in "TAS")
    assert T.image.isna().all() and not T.prompt.str.contains("<image>").any()
    assert A.image.notna().all() and A.prompt.str.startswith("<image> ").all()
    assert set(A.task) <= {"caption", "causal_order"}
    assert Counter(S.task.replace({"causal_order": "caption", "hidden_identity": "vqa", "attribute": "vqa"})) == \
        {"caption": 24, "existence": 21, "vqa": 15}
    assert (train[train.task == "existence"].pope_split == "random").all()  # no anti-prior cue in training
    assert Counter(test.task) == {"caption": 48, "existence": 3 * 48, "attribute": 48, "hidden_identity": 48,
                                  "causal_order": 48}
    assert Counter(test[test.task == "attribute"].question) == {k: 48 // 5 + (i < 48 % 5)
                                                                 for i, k in enumerate(D.ATTRIBUTE_KINDS)}
    assert (train[train.task == "causal_order"].shape[0] > 0) and (train.stage.isin(["T", "A", "S"])).all()


def test_pope_yes_ratio_is_one_half_per_split(splits):
    for name in ("dev", "test"):
        ex = splits[name][splits[name].task == "existence"]
        ratio = ex.groupby("pope_split").answer.apply(lambda a: (a == "yes").mean()).to_dict()
        assert ratio == {s: 0.5 for s in D.POPE_SPLITS}
    train = splits["train"]
    for stage in ("T", "S"):  # 21 questions each: 11 and 10
        got = Counter(train[(train.task == "existence") & (train.stage == stage)].answer)
        assert abs(got["yes"] - got["no"]) <= 1


def _recompute(row, scene):
    """The answer of a row, recomputed from its scene graph."""
    subs, types = scene.subjects, D.present_types(scene)
    q = row.prompt.replace("<image> ", "")
    if row.task == "caption":
        return caption(scene)
    if row.task == "existence":
        t = q[len("is there a "):-len(" ?")]
        return "yes" if t in types else "no"
    if row.task == "hidden_identity":
        t = q[len("what is inside the "):-len(" ?")]
        core = subs[types.index(t)].core
        return "nothing" if core == "none" else core
    if row.task == "causal_order":
        return None
    kind = row.question
    if kind == "count":
        return ["zero", "one", "two", "three", "four"][len(subs)]
    if kind == "background":
        return scene.background
    if kind == "color":
        shape = q.split()[-2]
        (s,) = [s for s in subs if s.shape == shape]  # asked only when the shape is unique
        return s.color
    if kind == "shape":
        color = q.split()[-3]
        (s,) = [s for s in subs if s.color == color]
        return s.shape
    if kind == "position":
        t = q[len("where is the "):-len(" ?")]
        s = subs[types.index(t)]
        return position_phrase(s.x, s.y)
    raise AssertionError(kind)


def test_every_answer_recomputed_from_the_scene_graph(splits):
    vocab = set(D.VOCAB)
    for row in _rows(splits):
        scene = D.scene_of(row)
        assert row.prior_violating == D.prior_violating(scene, PRIOR)
        if row.task != "causal_order":
            assert row.answer == _recompute(row, scene)
            assert row.foil == ""
        for text in (row.prompt.replace("<image> ", ""), row.answer):
            assert set(text.split()) <= vocab, text
        if row.subject >= 0:
            t = D.type_of(scene.subjects[row.subject])
            assert t in row.prompt or row.task == "attribute" and row.question in ("color", "shape")
        if row.task == "existence":
            t = row.prompt.replace("<image> ", "")[len("is there a "):-len(" ?")]
            if row.answer == "no":
                assert t not in D.present_types(scene) and row.subject == -1
                assert t in D.pope_negatives(scene, PRIOR, row.pope_split)
                if row.pope_split == "popular":
                    assert t in PRIOR.hubs
                if row.pope_split == "adversarial":  # the companion of a present type
                    assert any(PRIOR.companion.get(o) == t for o in D.present_types(scene))
                    assert row.prior_violating
            else:
                assert D.type_of(scene.subjects[row.subject]) == t
            assert D.pope_negatives(scene, PRIOR, row.pope_split)  # yes and no see the same scenes
        else:
            assert row.pope_split == ""


def test_causal_pairs(splits):
    rows = [r for r in _rows(splits) if r.task == "causal_order"]
    seen = Counter()
    for row in rows:
        foil = json.loads(row.foil)
        scene = D.scene_of(row)
        correct, swapped, control = D.causal_pair(foil["rule"], scene, foil["connective"])
        assert (row.answer, foil["swapped"], foil["control"]) == (correct, swapped, control)
        assert sorted(correct.split()) == sorted(swapped.split()) and correct != swapped  # order only
        diff = [(a, b) for a, b in zip(correct.split(), control.split()) if a != b]
        assert len(correct.split()) == len(control.split()) and len(diff) == 1
        assert foil["connective"] in correct.split()
        assert set((correct + " " + swapped + " " + control).split()) <= set(D.VOCAB)
        seen[foil["rule"], foil["connective"]] += row.split == "test"
    assert set(seen) == {(r, c) for r in D.CAUSAL_FAMILIES for c in D.CONNECTIVES}


def test_causal_clauses_by_hand():
    from attnlab.world.scene import Scene, Subject
    s = Scene([Subject("circle", "red", 0.2, 0.5, 0.8)], "day")
    assert D.causal_pair("ripen", s, "so") == ("it ripens so it is red", "it is red so it ripens",
                                               "it ripens so it is blue")
    assert D.causal_pair("fall", s, "because") == ("it is on the bottom because it falls down",
                                                   "it falls down because it is on the bottom",
                                                   "it is on the top because it falls down")
    four = Scene([Subject("square", "green", 0.1, x, y) for x, y in [(.3, .3), (.7, .3), (.3, .7), (.7, .7)]])
    assert D.causal_pair("divide", four, "so")[0] == "it divides so there are four squares"


def test_images_and_patches_match_the_masks(splits):
    for row in _rows(splits):
        if row.image is None:
            assert row.object_patches == "{}" and row.background_patches == "[]"
            continue
        scene = D.scene_of(row)
        r = render(scene, 32)
        np.testing.assert_array_equal(from_png(row.image), r.image)
        obj, bg = D.load_patches(row)
        assert sorted(obj) == list(range(len(scene.subjects)))
        for i, m in enumerate(r.masks):  # recomputed patch by patch
            want = [pr * 8 + pc for pr in range(8) for pc in range(8)
                    if m[4 * pr:4 * pr + 4, 4 * pc:4 * pc + 4].sum() >= 4]
            assert obj[i] == want and all(0 <= k < 64 for k in obj[i]) and obj[i]
        union = r.masks.any(0)
        assert bg == [k for k in range(64) if not union[4 * (k // 8):4 * (k // 8) + 4, 4 * (k % 8):4 * (k % 8) + 4].any()]
        assert not set(bg) & {k for v in obj.values() for k in v}


def test_patch_indices_by_hand():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, :4, :4] = True  # all of patch 0
    masks[0, 4, 4:8] = True  # 4 of patch 3's 16 pixels: exactly 25%
    masks[1, 0, 4:7] = True  # 3 of patch 1's 16 pixels: below 25%, still not background
    obj, bg = D.patch_indices(masks, 4)
    assert obj == {"0": [0, 3], "1": []} and bg == [2]
    with pytest.raises(AttnlabError, match="patch size"):
        D.patch_indices(np.zeros((1, 6, 6), bool), 4)


def test_patch_targets_by_hand():
    """Per-patch stage-V classes from a hand-made mask: a covered patch takes its subject's type, a
    patch with no subject pixel is background, a partly covered one is ignored, and where two
    subjects' patches meet, the later subject (painted on top) wins."""
    from attnlab.world.scene import Scene, Subject
    scene = Scene([Subject("circle", "red", 0.15, 0.3, 0.3), Subject("square", "blue", 0.15, 0.7, 0.7)], "day")
    masks = np.zeros((2, 8, 8), bool)
    masks[0, :4, :4] = True  # patch 0: the red circle
    masks[0, 4:, 4:] = True  # patch 3: the red circle ...
    masks[1, 4:, 4:6] = True  # ... and 8 of its 16 pixels the blue square, painted later
    masks[1, 0, 4:7] = True  # patch 1: 3 pixels of the blue square, under 25%
    obj, bg = D.patch_indices(masks, 4)
    assert obj == {"0": [0, 3], "1": [3]} and bg == [2]
    red, blue = D.TYPES.index("red circle"), D.TYPES.index("blue square")
    assert D.patch_targets(scene, obj, bg, 4) == [red, D.PATCH_IGNORE, D.PATCH_BACKGROUND, blue]
    assert D.PATCH_BACKGROUND == 18 and D.PATCH_IGNORE == -100
    # int keys (load_patches) give the same; a row's targets add "patch" to vision_targets
    assert D.patch_targets(scene, {0: [0, 3], 1: [3]}, bg, 4) == D.patch_targets(scene, obj, bg, 4)


def test_row_vision_targets_match_the_render(splits):
    """On generated rows: every background patch of the render is class 18, and every patch the
    patch head is asked to call a type lies at least 25% inside that type's render mask."""
    for r in list(splits["dev"].dropna(subset=["image"]).itertuples())[:20]:
        scene = D.scene_of(r)
        t = D.row_vision_targets(r, 64)
        assert {k: v for k, v in t.items() if k != "patch"} == D.vision_targets(scene)
        masks = render(scene, 32).masks
        share = masks.reshape(len(masks), 8, 4, 8, 4).mean(axis=(2, 4)).reshape(len(masks), 64)
        for k, c in enumerate(t["patch"]):
            if c == D.PATCH_BACKGROUND:
                assert share[:, k].sum() == 0
            elif c != D.PATCH_IGNORE:
                i = [j for j, s in enumerate(scene.subjects) if D.type_of(s) == D.TYPES[c]][0]
                assert share[i, k] >= 0.25


def test_splits_are_disjoint_by_image(splits):
    sets = {k: set(df.image.dropna()) for k, df in splits.items()}
    assert not sets["test"] & sets["dev"] and not sets["test"] & sets["train"] and not sets["dev"] & sets["train"]
    # the test set does not depend on the train size
    small = D.synthesize(5, PRIOR, n_train=6, n_dev=24, n_test=48, causal_fraction=0.25)
    assert small["test"].equals(splits["test"]) and small["dev"].equals(splits["dev"])


def test_excluded_images_are_redrawn():
    ctx = D._Ctx(PRIOR, 1, 32, 4, set(), set())
    rng = np.random.default_rng(0)
    first = D.caption_example(rng, ctx)
    ctx2 = D._Ctx(PRIOR, 1, 32, 4, set(ctx.seen), set())
    again = D.caption_example(np.random.default_rng(0), ctx2)  # same draw, excluded: the next one
    assert again["image"] != first["image"]


def test_causal_fraction_zero_and_bad_params():
    out = D.synthesize(2, PRIOR, n_train=20, n_dev=0, n_test=0)
    assert not (out["train"].task == "causal_order").any() and len(out["test"]) == 0
    with pytest.raises(AttnlabError, match="causal_fraction"):
        D.synthesize(2, PRIOR, n_train=1, n_dev=0, n_test=0, causal_fraction=2)
    with pytest.raises(AttnlabError, match="max_subjects"):
        D.synthesize(2, PRIOR, n_train=1, n_dev=0, n_test=0, max_subjects=7)


def test_s_mix_sets_stage_s_counts_and_leaves_t_and_a_alone():
    mix = {"caption": 0.25, "existence": 0.5, "vqa": 0.25}
    base = D.synthesize(2, PRIOR, n_train=40, n_dev=0, n_test=0)["train"]
    out = D.synthesize(2, PRIOR, n_train=40, n_dev=0, n_test=0, s_mix=mix)["train"]
    s = out[out.stage == "S"]
    kinds = Counter("vqa" if t in ("attribute", "hidden_identity") else t for t in s.task)
    assert kinds == {"caption": 10, "existence": 20, "vqa": 10}  # 40 rows: 0.25 / 0.5 / 0.25 exactly
    assert Counter(s[s.task == "existence"].answer) == {"yes": 10, "no": 10}  # still balanced
    # the design's mix by default (40 rows: 16 / 14 / 10), and T's and A's rows are drawn before S's
    b = base[base.stage == "S"]
    assert Counter("vqa" if t in ("attribute", "hidden_identity") else t for t in b.task) == {"caption": 16, "existence": 14, "vqa": 10}
    for stage in ("T", "A"):
        assert out[out.stage == stage].reset_index(drop=True).equals(base[base.stage == stage].reset_index(drop=True))
    # the design's mix given explicitly is the default
    same = D.synthesize(2, PRIOR, n_train=40, n_dev=0, n_test=0, s_mix=dict(D.STAGE_MIXES["S"]))["train"]
    assert same.equals(base)
    for bad in ({"caption": 0.5, "existence": 0.6, "vqa": 0.0}, {"caption": 0.5, "existence": 0.5},
                {"caption": 1.5, "existence": -0.5, "vqa": 0.0}):
        with pytest.raises(AttnlabError, match="s_mix"):
            D.synthesize(2, PRIOR, n_train=4, n_dev=0, n_test=0, s_mix=bad)


def test_deterministic_by_seed(splits):
    again = D.synthesize(5, PRIOR, n_train=60, n_dev=24, n_test=48, causal_fraction=0.25)
    for k in splits:
        assert again[k].equals(splits[k])
    other = D.synthesize(6, PRIOR, n_train=6, n_dev=4, n_test=4)
    assert not other["test"].scene.equals(splits["test"].scene.iloc[:len(other["test"])])


def test_deterministic_under_any_hash_seed():
    """No set or frozenset is iterated unsorted: two interpreters with different PYTHONHASHSEED
    write the same rows."""
    import os
    import subprocess
    import sys

    code = ("import hashlib\nfrom attnlab.vlm import data as D\n"
            "out = D.synthesize(1, D.make_prior(2, 0.7), n_train=12, n_dev=6, n_test=6, causal_fraction=0.5)\n"
            "h = hashlib.sha1()\n"
            "for df in out.values():\n"
            "    for r in df.itertuples(index=False):\n"
            "        h.update(repr(tuple(r)).encode())\n"
            "print(sorted(D.make_prior(2, 0.7).companion.items()), h.hexdigest())\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h), "PYTHONPATH": os.pathsep.join(sys.path)}).stdout
            for h in (1, 2)}
    assert len(outs) == 1


def test_vision_targets():
    from attnlab.world.scene import Scene, Subject
    s = Scene([Subject("circle", "red", 0.15, 0.3, 0.3, ring=True), Subject("square", "blue", 0.15, 0.7, 0.7)], "fog")
    t = D.vision_targets(s)
    assert t["count"] == 2 and t["background"] == "fog" and t["ring"] is True
    assert [D.TYPES[i] for i, p in enumerate(t["present"]) if p] == ["red circle", "blue square"]


def test_synth_step_writes_the_splits_and_the_prior(tmp_path):
    from attnlab.cli import StepArgs
    from attnlab.io import read_json, read_parquet
    from attnlab.vlm import synth

    params = {"seed": 5, "prior_seed": 11, "prior_strength": 0.6, "n": {"train": 6, "dev": 4, "test": 4},
              "causal_fraction": 0.0, "max_subjects": 3}
    outs = {k: [str(tmp_path / f"{k}.parquet")] for k in D.SPLITS} | {"prior": [str(tmp_path / "prior.json")]}
    synth.main(StepArgs({}, outs, params))
    want = D.synthesize(5, PRIOR, n_train=6, n_dev=4, n_test=4)
    for k in D.SPLITS:
        got = read_parquet(outs[k][0], columns=D.SCHEMA)
        assert len(got) == len(want[k]) and got.answer.tolist() == want[k].answer.tolist()
        assert got.image.tolist() == want[k].image.tolist()
    assert D.Prior.from_dict(read_json(outs["prior"][0])) == PRIOR
    with pytest.raises(AttnlabError, match="missing prior_seed"):
        synth.main(StepArgs({}, outs, {k: v for k, v in params.items() if k != "prior_seed"}))
    with pytest.raises(AttnlabError, match="n must map"):
        synth.main(StepArgs({}, outs, params | {"n": {"train": 1}}))
