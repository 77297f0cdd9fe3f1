"""vit_heads: the statistics, the checks on hand-made stats with known answers, and the spec's smoke
checks (a head whose output is already zero changes nothing when ablated; a pattern that attends
only to itself has spatial distance 0)."""

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab import hooks
from attnlab.heads.patterns import mean_spatial_distance
from attnlab.vit_heads.analyse import ablated_hits, ablation, grid_rc, per_image_hits, residuals, semantics
from attnlab.vit_heads.evaluate import seed_stats, verdicts
from attnlab.vit_heads.stats import kmeans, rankdata, silhouette, spearman


def test_rank_statistics_with_ties():
    assert rankdata([3, 1, 1, 2]).tolist() == [4, 1.5, 1.5, 3]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_kmeans_and_silhouette_find_two_separated_blobs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    _, labels = kmeans(x, 2, seed=0)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1 and labels[0] != labels[-1]
    assert silhouette(x, labels) > 0.9
    assert silhouette(x, np.zeros(60, int)) != silhouette(x, np.zeros(60, int))  # NaN: one cluster


def test_a_pattern_attending_only_to_itself_has_distance_zero_and_full_same_object_ratio():
    rc = grid_rc(8)
    P = np.eye(65)[None, None]  # (L=1, H=1, T, T)
    assert mean_spatial_distance(P, rc)[0, 0] == 0
    s = semantics(P, {0: [0, 1, 8, 9]}, [30, 31])
    assert s["same_object"][0, 0] == 1 and s["background"][0, 0] == pytest.approx(2 / 64) and s["cls"][0, 0] == 0


@pytest.fixture(scope="module")
def tower_and_images():
    from attnlab.vlm import data as D
    from attnlab.vlm.configuration import AttnViTConfig
    from attnlab.vlm.modeling import AttnViTModel
    from attnlab.vlm.predict import tower_examples
    from attnlab.vlm.processor import build_processor
    from attnlab.vlm.train import VisionPretrainer

    torch.manual_seed(0)
    model = VisionPretrainer(AttnViTModel(AttnViTConfig(n_embd=16, n_layer=2, n_head=2)), 6).eval()
    frame = D.synthesize(0, D.make_prior(0, 0.6), n_train=0, n_dev=0, n_test=3)["test"]
    return model, tower_examples(build_processor(), frame)


def test_ablating_a_head_whose_output_is_already_zero_changes_nothing(tower_and_images):
    model, ex = tower_and_images
    with torch.no_grad():
        model.tower.blocks[1].attn.c_proj.weight[:, :8] = 0  # head 0 of layer 1 writes nothing
    base = per_image_hits(model, ex, 8)
    assert np.array_equal(per_image_hits(model, ex, 8, ablation([(1, 0)])), base)


def test_an_ablation_resumed_at_its_layer_equals_the_full_pass_bit_for_bit(tower_and_images):
    """The analysis skips the blocks before an ablated head (residual stream of the clean pass):
    every output of the tower's heads is the full pass's to the bit, and so are the hits."""
    model, ex = tower_and_images
    px = ex.batch(np.arange(len(ex)))["pixel_values"]
    res = residuals(model, ex, 2)
    with torch.no_grad():
        hidden = model.tower(px[:2], output_hidden_states=True).hidden_states
        for heads in ([(0, 1)], [(1, 0)], [(1, 1), (0, 0)], [(1, 0), (1, 1)]):
            start = min(layer for layer, _ in heads)
            with hooks.hooks(model.tower, ablation(heads)):
                full, resumed = model(px[:2]), model(start_layer=start, inputs_embeds=hidden[start])
            assert all(torch.equal(getattr(full, k), getattr(resumed, k)) for k in ("present", "count", "ring", "patch"))
            assert np.array_equal(ablated_hits(model, ex, 2, heads, res), per_image_hits(model, ex, 2, ablation(heads)))
    with pytest.raises(ValueError, match="start_layer > 0 needs inputs_embeds"):
        model.tower(px, start_layer=1)


def _images(n=200, top_drop=0.3, rand_drop=0.02, seed=0):
    rng = np.random.default_rng(seed)
    base = np.ones(n)
    d = {"base": base, "top": base - (rng.random(n) < top_drop), "rand_0": base - (rng.random(n) < rand_drop),
         "rand_1": base - (rng.random(n) < rand_drop)}
    for i in range(4):  # head i matters with weight i: ablation drop and gradient agree
        d[f"abl_0_{i}"] = base - (rng.random(n) < 0.05 * i)
        d[f"grad_0_{i}"] = 0.1 * i + 0.01 * rng.random(n)
    for layer in range(3):
        d[f"dist_{layer}"] = 1.0 + layer + 0.1 * rng.random(n)
    return pd.DataFrame(d)


def test_checks_pass_on_concentrated_agreeing_local_to_global_heads():
    st = seed_stats(_images(), n_boot=200, seed=0, c1_ratio=3.0)
    assert verdicts(st, c1_drop=0.05, c2_rho=0.5, c3_distance=0.5) == {"C1": True, "C2": True, "C3": True}


def test_checks_fail_when_top_heads_are_no_better_than_random_and_layers_flat():
    img = _images(top_drop=0.0, rand_drop=0.1)
    for layer in range(3):
        img[f"dist_{layer}"] = 2.0 - 0.3 * layer
    st = seed_stats(img, n_boot=200, seed=0, c1_ratio=3.0)
    v = verdicts(st, c1_drop=0.05, c2_rho=0.5, c3_distance=0.5)
    assert v["C1"] is False and v["C3"] is False
