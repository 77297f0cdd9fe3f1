"""The diffusion train step: a few steps on world renders, the saved folder, the CLI, reruns."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from attnlab import AttnlabError
from attnlab.cli import run_step
from attnlab.diffusion import train as train_mod
from attnlab.diffusion.model import build, load_pipeline
from attnlab.diffusion.sample import generate
from attnlab.diffusion.tokenizer import encode
from attnlab.io import write_parquet
from attnlab.seeds import derive_seed
from attnlab.world.caption import VOCAB
from attnlab.world.dataset import training_set
from tests.fixtures import TINY_T2I

torch.set_num_threads(1)

TINY = TINY_T2I


@pytest.fixture(scope="module")
def data():
    return training_set(12, 0, 8)


def test_train_saves_a_loadable_model(data, tmp_path):
    out = tmp_path / "model"
    summary = train_mod.train(data, TINY, steps=4, batch_size=3, lr=1e-3, seed=0, out_dir=out, progress=False,
                              log_every=2)
    assert np.isfinite(summary["final_loss"]) and summary["seconds_per_step"] > 0
    for sub in ("unet", "text_encoder", "tokenizer", "scheduler"):
        assert (out / sub).is_dir()
    assert not list(out.glob(".tmp-*"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 4
    comps = load_pipeline(out)
    assert comps["tokenizer"].convert_tokens_to_ids(VOCAB[0]) == 4  # world VOCAB after the 4 specials
    a = generate(comps, ["a red circle on the left in the day"], seed=0, steps=2)
    b = generate(summary["components"], ["a red circle on the left in the day"], seed=0, steps=2)
    np.testing.assert_array_equal(a, b)  # the saved weights are the EMA weights returned
    # a rerun into the same folder replaces the model
    train_mod.train(data, TINY, steps=2, batch_size=3, lr=1e-3, seed=1, out_dir=out, progress=False)
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 2
    load_pipeline(out)


def test_train_is_deterministic(data):
    kw = dict(steps=2, batch_size=2, lr=1e-3, seed=5, out_dir=None, progress=False)
    a, b = train_mod.train(data, TINY, **kw), train_mod.train(data, TINY, **kw)
    assert a["final_loss"] == b["final_loss"]


def test_cli_step(data, tmp_path, capsys):
    write_parquet(tmp_path / "data.parquet", data)
    params = {"model": TINY, "steps": 2, "batch_size": 2, "lr": 1e-3, "seed": 0, "progress": False}
    run_step(train_mod.main, ["--input", "data", str(tmp_path / "data.parquet"), "--output", "model",
                              str(tmp_path / "m"), "--params", json.dumps(params)])
    assert (tmp_path / "m" / "model_index.json").is_file()
    with pytest.raises(SystemExit) as e:
        run_step(train_mod.main, ["--input", "data", str(tmp_path / "data.parquet"), "--output", "model",
                                  str(tmp_path / "m2"), "--params", json.dumps({"steps": 1})])
    assert e.value.code == 2
    assert "batch_size" in capsys.readouterr().err


def test_wrong_image_size_is_named(data):
    with pytest.raises(AttnlabError, match="image_size"):
        train_mod.train(data, {**TINY, "image_size": 16}, steps=1, batch_size=1, lr=1e-3, seed=0, out_dir=None,
                        progress=False)


def _weights(comps) -> dict:
    return {**{f"unet.{k}": v for k, v in comps["unet"].state_dict().items()},
            **{f"text.{k}": v for k, v in comps["text_encoder"].state_dict().items()}}


def _step_and_grads(data, **options):
    comps = build(TINY, train_mod.vocabulary(data.caption), seed=0)
    step = train_mod.TrainStep(comps, lr=1e-3, steps=4, snr_gamma=5.0, **options)
    gen = torch.Generator().manual_seed(0)
    x0 = train_mod.decode_images(data, 8)[:4]
    ids = encode(comps["tokenizer"], list(data.caption[:4]))
    noise, t = torch.randn(x0.shape, generator=gen), torch.randint(1000, (4,), generator=gen)
    loss = step.loss(x0, ids, noise, t)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in comps["unet"].named_parameters()}


def test_channels_last_computes_the_same_loss_and_gradients(data):
    loss, grads = _step_and_grads(data)
    loss_cl, grads_cl = _step_and_grads(data, channels_last=True)
    assert loss_cl == pytest.approx(loss, rel=1e-5)
    for k in grads:  # the same math in another memory layout: equal up to summation order
        torch.testing.assert_close(grads_cl[k], grads[k], rtol=1e-3, atol=1e-6, msg=k)


def test_channels_last_training_saves_weights_in_the_default_layout(data, tmp_path):
    kw = dict(steps=2, batch_size=3, lr=1e-3, seed=2, progress=False)
    ref = train_mod.train(data, TINY, out_dir=None, **kw)
    nhwc = train_mod.train(data, TINY, out_dir=tmp_path / "m", channels_last=True, **kw)
    assert all(v.is_contiguous() for v in _weights(nhwc["components"]).values())
    assert nhwc["channels_last"] and "channels_last" not in ref  # summaries of default runs are unchanged
    assert nhwc["final_loss"] == pytest.approx(ref["final_loss"], rel=1e-3)
    load_pipeline(tmp_path / "m")


def test_bf16_loss_follows_the_fp32_loss(data):
    """bf16 autocast changes the forward's precision, not the objective: on the same batch the
    loss agrees to bf16 accuracy, and the weights and their gradients stay fp32."""
    loss, grads = _step_and_grads(data)
    loss_bf, grads_bf = _step_and_grads(data, bf16=True)
    assert loss_bf != loss and loss_bf == pytest.approx(loss, rel=0.03)
    assert all(g.dtype == torch.float32 for g in grads_bf.values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors of a machine without a GPU")
def test_a_device_that_is_not_there_is_named_before_training(data, tmp_path):
    kw = dict(steps=1, batch_size=1, lr=1e-3, seed=0, out_dir=tmp_path / "m", progress=False)
    with pytest.raises(AttnlabError, match="'cuda'.*no GPU is visible"):
        train_mod.train(data, TINY, device="cuda", **kw)
    with pytest.raises(AttnlabError, match="device 'tpu0'"):
        train_mod.train(data, TINY, device="tpu0", **kw)
    assert not (tmp_path / "m").exists()  # nothing half-written
    summary = train_mod.train(data, TINY, **kw)  # "auto": the CPU here
    assert summary["device"] == "cpu"
    assert load_pipeline(tmp_path / "m", device="auto")["unet"].device.type == "cpu"
    with pytest.raises(AttnlabError, match="no GPU is visible"):
        load_pipeline(tmp_path / "m", device="cuda:0")


def test_a_learning_curve_sees_the_ema_weights_and_leaves_training_alone(data):
    """`evaluate` (bench/calibrate_vision.py --every) is called in eval mode every k steps; the trained
    model is bit for bit the one trained without it."""
    kw = dict(steps=6, batch_size=2, lr=1e-3, seed=3, out_dir=None, progress=False, ema_decay=0.9)
    ref = train_mod.train(data, TINY, **kw)
    seen = []

    def evaluate(step, comps):
        assert not comps["unet"].training and not comps["text_encoder"].training
        seen.append((step, {k: v.clone() for k, v in comps["unet"].state_dict().items()}))

    out = train_mod.train(data, TINY, evaluate=evaluate, evaluate_every=2, **kw)
    assert [s for s, _ in seen] == [2, 4]  # not at the last step: the returned model is that one
    assert out["final_loss"] == ref["final_loss"]
    for k, v in ref["components"]["unet"].state_dict().items():
        torch.testing.assert_close(out["components"]["unet"].state_dict()[k], v, rtol=0, atol=0)
    assert any(not torch.equal(seen[1][1][k], v) for k, v in seen[0][1].items())  # a curve, not one point


def test_the_full_scale_vision_model_trains_and_samples(tmp_path):
    """config/full.yaml's text-to-image model (the GPU route to the vision gate) builds from the shipped
    config, takes a training step at its image size and samples: one step, batch 2, on the CPU."""
    import yaml

    from tests.fixtures import layer

    root = Path(__file__).resolve().parents[2]
    cfg = {}
    for name in ("config.yaml", "full.yaml"):
        layer(cfg, yaml.safe_load((root / "config" / name).read_text()))
    vision = cfg["vision"]
    size = vision["image_size"]
    out = train_mod.train(training_set(4, 0, size), {**vision["model"]["architecture"], "image_size": size}, steps=1,
                          batch_size=2, lr=vision["model"]["lr"], seed=0, out_dir=tmp_path / "m", progress=False,
                          snr_gamma=vision["model"].get("snr_gamma"))
    assert np.isfinite(out["final_loss"]) and out["parameters"]["unet"] > 1_000_000  # not the mini model (0.4M)
    img = generate(load_pipeline(tmp_path / "m"), ["a red circle on the left in the day"], seed=0, steps=2,
                   guidance=vision["sampling"]["guidance"])
    assert img.shape == (1, size, size, 3)


def test_coordinate_channels_reach_the_unet_and_survive_a_save(data, tmp_path):
    """coord_channels: the UNet reads two more channels, x and y in [-1, 1] (left/top -1), while the
    sample (noise, images) keeps three; the saved folder loads and samples the same images."""
    from attnlab.diffusion.model import unet_input
    from attnlab.diffusion.sample import latent_shape

    cfg = {**TINY, "coord_channels": True}
    out = train_mod.train(data, cfg, steps=2, batch_size=2, lr=1e-3, seed=0, out_dir=tmp_path / "m", progress=False)
    comps = load_pipeline(tmp_path / "m")
    assert comps["coord_channels"] and comps["unet"].config.in_channels == 5 and latent_shape(comps) == (3, 8, 8)
    x = unet_input(comps, torch.zeros(2, 3, 8, 8))
    assert x.shape == (2, 5, 8, 8)
    assert x[0, 3, 0, 0] == -1 and x[0, 3, 0, 7] == 1 and x[0, 4, 0, 7] == -1 and x[1, 4, 7, 0] == 1
    prompt = ["a red circle on the left in the day"]
    np.testing.assert_array_equal(generate(comps, prompt, seed=0, steps=2), generate(out["components"], prompt, seed=0, steps=2))
    assert unet_input(build(TINY, ["red"], seed=0), torch.zeros(1, 3, 8, 8)).shape == (1, 3, 8, 8)  # off: unchanged


def test_a_frozen_text_encoder_keeps_its_initial_weights(data, tmp_path):
    """train_text_encoder=False: the UNet trains, the text encoder saved is the one built from the seed."""
    kw = dict(steps=3, batch_size=2, lr=1e-2, seed=4, progress=False)
    out = train_mod.train(data, TINY, out_dir=tmp_path / "m", train_text_encoder=False, **kw)
    init = build(TINY, train_mod.vocabulary(data.caption), seed=derive_seed(4, "diffusion", "init"))
    saved = load_pipeline(tmp_path / "m")
    for k, v in init["text_encoder"].state_dict().items():
        torch.testing.assert_close(saved["text_encoder"].state_dict()[k], v, rtol=0, atol=0)
    assert any(not torch.equal(saved["unet"].state_dict()[k], v) for k, v in init["unet"].state_dict().items())
    assert out["train_text_encoder"] is False and "train_text_encoder" not in train_mod.train(data, TINY, out_dir=None, **kw)
