"""The diffusion train step: a few steps on world renders, the saved folder, the CLI, reruns."""

import json

import numpy as np
import pytest
import torch

from attnlab import AttnlabError
from attnlab.cli import run_step
from attnlab.diffusion import train as train_mod
from attnlab.diffusion.model import load_pipeline
from attnlab.diffusion.sample import generate
from attnlab.io import write_parquet
from attnlab.world.caption import VOCAB
from attnlab.world.dataset import training_set

torch.set_num_threads(1)

TINY = {"image_size": 8, "block_out_channels": [8, 16], "attention": [False, True], "norm_num_groups": 4,
        "heads": 2, "text_width": 16, "text_layers": 1, "text_intermediate": 32, "max_length": 64}


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
