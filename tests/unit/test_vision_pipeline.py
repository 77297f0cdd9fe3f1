"""The vision experiments' own math and plumbing: bootstrap intervals, image directories, the
IR-Diffusion claim logic on hand-made summaries, config checks of local paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attnlab import AttnlabError
from attnlab.metrics.bootstrap import bootstrap_mean, bootstrap_paired_diff, interval_verdict
from attnlab.vision import plan as vision_plan
from attnlab.vision.images import read_image_dir, write_image_dir


def test_bootstrap_constant_has_zero_width():
    m, lo, hi = bootstrap_mean([0.5] * 20, 500, 0)
    assert m == lo == hi == 0.5


def test_bootstrap_interval_covers_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_mean(rng.normal(1, 1, 20), 2000, 1)
    large = bootstrap_mean(rng.normal(1, 1, 2000), 2000, 1)
    assert small[1] < small[0] < small[2]
    assert (large[2] - large[1]) < (small[2] - small[1]) / 5
    assert large[1] < 1.0 < large[2]


def test_paired_difference_ignores_unpaired_nans_and_detects_shift():
    a = np.array([1.0, 1, 1, 1, np.nan, 1, 1, 1])
    b = np.array([0.0, 0, 0, 0, 0, np.nan, 0, 0])
    m, lo, hi = bootstrap_paired_diff(a, b, 500, 0)
    assert m == lo == hi == 1.0
    assert interval_verdict(lo, hi, +1) is True and interval_verdict(lo, hi, -1) is False
    assert interval_verdict(-0.3, -0.1, -1) is True
    assert interval_verdict(-0.1, 0.2, +1) is None and interval_verdict(-0.1, 0.2, -1) is None
    assert interval_verdict(float("nan"), 1.0, +1) is None


def test_bootstrap_of_nothing_is_nan():
    assert all(np.isnan(v) for v in bootstrap_mean([np.nan], 100, 0))


def test_image_dir_round_trip(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    img[2:5, 3:6] = (250, 10, 20)
    write_image_dir(tmp_path / "d", [{"image": img, "caption": "a red square", "k": 1},
                                     {"image": img[::-1], "caption": "flipped", "k": 2}])
    df = read_image_dir(tmp_path / "d")
    assert list(df["caption"]) == ["a red square", "flipped"]
    np.testing.assert_array_equal(df["image"][0], img)
    np.testing.assert_array_equal(df["image"][1], img[::-1])


def test_image_dir_errors_name_the_file(tmp_path):
    with pytest.raises(AttnlabError, match="index.parquet"):
        read_image_dir(tmp_path)
    write_image_dir(tmp_path / "d", [{"image": np.zeros((4, 4, 3), np.uint8)}])
    (tmp_path / "d" / "00000.png").write_bytes(b"not a png")
    with pytest.raises(AttnlabError, match="00000.png"):
        read_image_dir(tmp_path / "d")


def test_model_path_checks(tmp_path):
    vision = {"model": {"path": None}}
    vision_plan.check_model_path(vision)
    assert vision_plan.model_dir(vision) == vision_plan.TRAINED_MODEL
    with pytest.raises(ValueError, match="vision.model.path.*not a directory"):
        vision_plan.check_model_path({"model": {"path": str(tmp_path / "nope")}})
    (tmp_path / "sd" / "unet").mkdir(parents=True)
    with pytest.raises(ValueError, match="text_encoder"):
        vision_plan.check_model_path({"model": {"path": str(tmp_path / "sd")}})
    for sub in ("text_encoder", "tokenizer", "scheduler"):
        (tmp_path / "sd" / sub).mkdir()
    vision_plan.check_model_path({"model": {"path": str(tmp_path / "sd")}})
    assert vision_plan.model_dir({"model": {"path": str(tmp_path / "sd")}}) == str(tmp_path / "sd")


def _summary(diffs: dict) -> pd.DataFrame:
    """Hand-made ir_diffusion summary rows: per seed, (Δconsistency interval, Δfusion interval)."""
    rows = []
    for seed, (c, f) in diffs.items():
        for metric, (lo, hi) in (("consistency", c), ("fusion", f)):
            rows.append({"seed_index": seed, "variant": "full", "subjects": "all", "metric": metric,
                         "mean": 0.5, "low": 0.4, "high": 0.6, "diff_vs_vanilla": (lo + hi) / 2,
                         "diff_low": lo, "diff_high": hi, "n_cases": 30})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("diffs, verdict", [
    ({0: ((0.1, 0.3), (-0.3, -0.1)), 1: ((0.05, 0.2), (-0.2, -0.01)), 2: ((0.1, 0.2), (-0.2, -0.1))}, "PASS"),
    ({0: ((0.1, 0.3), (-0.3, -0.1)), 1: ((-0.05, 0.2), (-0.2, -0.01)), 2: ((0.1, 0.2), (-0.2, -0.1))},
     "INCONCLUSIVE"),
    ({0: ((-0.3, -0.1), (-0.3, -0.1)), 1: ((-0.2, -0.05), (0.1, 0.2)), 2: ((-0.2, -0.1), (-0.2, -0.1))}, "FAIL"),
])
def test_ir_claim_verdict_follows_the_intervals(diffs, verdict):
    from attnlab.claims import Competence
    from attnlab.ir_diffusion.evaluate import check_claims

    competent = Competence("caption accuracy", 0.6, {0: 0.9, 1: 0.8, 2: 0.7})
    rows = check_claims(_summary(diffs), {"scale": "test"}, competent)
    assert rows[0]["verdict"] == verdict
    assert rows[1]["verdict"] == "NOT RUN"
    # one seed whose model does not draw what its caption says: nothing is judged (issue 13)
    under = Competence("caption accuracy", 0.6, {0: 0.9, 1: 0.25, 2: 0.7})
    row = check_claims(_summary(diffs), {"scale": "test"}, under)[0]
    assert row["verdict"] == "INCONCLUSIVE" and row["why"].startswith("under-trained") and "seed 1" in row["why"]
    assert row["per_seed_pass"][1] is None


def test_train_params_pass_speed_options_only_when_configured():
    vision = {"image_size": 32, "model": {"architecture": {"heads": 2}, "steps": 10, "batch_size": 8, "lr": 1e-3,
                                          "ema_decay": 0.99, "caption_dropout": 0.1, "snr_gamma": 5}}
    plain = vision_plan.train_params(vision, 0)
    assert not set(vision_plan.SPEED_OPTIONS) & set(plain)  # unconfigured: the params (and their hash) stay as before
    fast = vision_plan.train_params({**vision, "model": {**vision["model"], "channels_last": True}}, 0)
    assert fast == {**plain, "channels_last": True}


def test_device_reaches_the_model_and_generation_steps_only_when_configured():
    """vision.model.device: absent, the params (and so the cached results) stay as they were and the
    steps default to "auto"; the model and every generation step hold the `gpu` resource, so under
    attnlab.gpuslots a CPU config (gpu: 0) sees no GPU and a GPU config gets its own."""
    from attnlab import registry
    from tests.fixtures import load_config

    config = load_config()
    config["experiments"]["image_world"]["enabled"] = True
    for cfg, dev in ((config, None), ({**config, "vision": {**config["vision"], "model": {
            **config["vision"]["model"], "device": "cuda:1"}}}, "cuda:1")):
        steps = dict(((g, s.name), s) for g, s in registry.steps(cfg))
        shared = [s for (g, name), s in steps.items() if name in ("model", "probe")]
        generate = [s for (g, name), s in steps.items() if name == "generate"]
        assert shared and generate
        for s in shared + generate:  # a stack of seeds shares the device among its common params
            assert s.gpu and s.params_for({"seed": "0"}).get("device") == dev, s.module
