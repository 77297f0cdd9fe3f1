"""The trainer: schedule, checkpoints without pickle, and a killed run resuming bit-identically."""

import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

import attnlab.models  # noqa: F401
from attnlab.cli import StepArgs
from attnlab.io import write_parquet
from attnlab.tasks import TASKS
from attnlab.train import lm as lm_step
from attnlab.train.checkpoint import latest_checkpoint
from attnlab.train.data import RandomBatches, SequenceData, insert_meta_tokens
from attnlab.train.schedule import warmup_cosine
from attnlab.train.trainer import TrainingInterrupted, TrainSettings, train

MODEL = {"vocab_size": 40, "n_positions": 32, "n_embd": 16, "n_layer": 2, "n_head": 2, "attention": "moh",
         "attention_options": {"shared_heads": 1, "active_heads": 1}}
SETTINGS = dict(steps=12, batch_size=4, lr=3e-3, warmup_steps=3, checkpoint_every=4, log_every=2)


@pytest.fixture(scope="module")
def data():
    return SequenceData(TASKS["markov_mixture"].generate(32, seed=0, seq_len=24, n_states=32))


def run(tmp, data, stop_after=None, settings=SETTINGS):
    model = lm_step.build_model(MODEL, seed=5)
    batches = RandomBatches(data, 4, seed=9, transform=insert_meta_tokens(0.1))
    try:
        train(model, batches, TrainSettings(**settings), tmp, progress=False, stop_after=stop_after)
    except TrainingInterrupted:
        return None
    return model


def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [warmup_cosine(s, lr=1.0, total_steps=100, warmup_steps=10, min_lr_ratio=0.1) for s in range(1, 101)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(0.1)
    assert warmup_cosine(55, lr=1.0, total_steps=100, warmup_steps=10, min_lr_ratio=0.0) == pytest.approx(0.5)


def test_batches_depend_on_step_only(data):
    a, b = RandomBatches(data, 4, seed=1), RandomBatches(data, 4, seed=1)
    b(3)
    assert torch.equal(a(7)["input_ids"], b(7)["input_ids"])
    assert not torch.equal(a(7)["input_ids"], a(8)["input_ids"])


def test_killed_run_resumes_bit_identical(tmp_path, data):
    full = run(tmp_path / "full", data)
    assert run(tmp_path / "killed", data, stop_after=10) is None  # dies after step 10; last checkpoint: 8
    ckpt = latest_checkpoint(tmp_path / "killed" / "checkpoints")
    assert ckpt.name == "step00000008"
    assert sorted(p.name for p in ckpt.iterdir()) == ["model.safetensors", "optimizer.safetensors", "state.json"]
    assert len(list((tmp_path / "killed" / "checkpoints").glob("step*"))) == 2  # keep_checkpoints
    resumed = run(tmp_path / "killed", data)
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    log_full = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    log_res = [json.loads(x) for x in (tmp_path / "killed" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_res] == [r["step"] for r in log_full] == [2, 4, 6, 8, 10, 12]
    assert [r["loss"] for r in log_res] == [r["loss"] for r in log_full]
    assert all(math.isfinite(r["loss"]) and "aux_loss" in r for r in log_full)


def test_training_reduces_loss(tmp_path, data):
    model = lm_step.build_model({**MODEL, "attention": "softmax", "attention_options": {}}, seed=0)
    batches = RandomBatches(data, 8, seed=0)
    first = model(**batches(1)).loss.item()
    recs = train(model, batches, TrainSettings(steps=40, batch_size=8, lr=1e-2, log_every=40), tmp_path,
                 progress=False)
    assert recs[-1]["loss"] < first - 0.3


def test_meta_tokens_are_inserted_and_never_targets():
    ids, mask = np.arange(8, 208), np.ones(200, dtype=bool)
    new_ids, new_mask = insert_meta_tokens(0.1)(ids, mask, np.random.default_rng(0))
    meta = new_ids == 6
    assert 5 < meta.sum() < 40 and new_ids[0] == 8
    assert np.array_equal(new_ids[~meta], ids) and not new_mask[meta].any() and new_mask[~meta].all()


def test_lm_step_writes_a_loadable_run_dir(tmp_path):
    df = TASKS["copy"].generate(16, seed=0, seq_len=21, n_symbols=8)
    write_parquet(tmp_path / "d.parquet", df)
    params = {"model": {**MODEL, "vocab_size": TASKS["copy"].vocab_size(n_symbols=8), "attention": "softmax",
                        "attention_options": {}},
              "train": {"steps": 4, "batch_size": 4, "lr": 1e-3, "log_every": 2, "checkpoint_every": 2},
              "seed": 3}
    run_dir = tmp_path / "run"
    lm_step.main(StepArgs({"data": [str(tmp_path / "d.parquet")]}, {"run_dir": [str(run_dir)]}, params))
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "model.safetensors", "train_log.jsonl"} <= names
    assert "checkpoints" not in names and not any(n.startswith(".") for n in names)
    model = AutoModelForCausalLM.from_pretrained(run_dir)
    assert model.config.vocab_size == 16
    out = model.generate(torch.tensor([[1, 8, 9, 2]]), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 7)


def test_checkpoint_of_another_run_is_discarded(tmp_path, data):
    """A stale checkpoint (other run_key or settings) is never resumed: the run starts afresh."""
    model = lm_step.build_model(MODEL, seed=5)
    batches = RandomBatches(data, 4, seed=9)
    with pytest.raises(TrainingInterrupted):
        train(model, batches, TrainSettings(**SETTINGS), tmp_path, run_key="a", progress=False, stop_after=5)
    fresh = lm_step.build_model(MODEL, seed=5)
    train(fresh, batches, TrainSettings(**SETTINGS), tmp_path / "ref", run_key="b", progress=False)
    other = lm_step.build_model(MODEL, seed=5)
    train(other, batches, TrainSettings(**SETTINGS), tmp_path, run_key="b", progress=False)
    for a, b in zip(fresh.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_counts_tokens_from_the_checkpoint_not_the_last_log_record(tmp_path, data):
    """Checkpoint steps need not be log steps: the token count lives in the checkpoint."""
    settings = {**SETTINGS, "log_every": 5, "checkpoint_every": 4}
    run(tmp_path / "full", data, settings=settings)
    assert run(tmp_path / "killed", data, stop_after=10, settings=settings) is None  # checkpoint at 8, record at 5
    run(tmp_path / "killed", data, settings=settings)
    full, resumed = ([json.loads(x) for x in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]
                     for d in ("full", "killed"))
    assert [r["step"] for r in resumed] == [5, 10, 12]
    assert [r["tokens"] for r in resumed] == [r["tokens"] for r in full]


def test_a_resumed_log_drops_a_truncated_last_record_and_names_a_corrupt_one(tmp_path):
    from attnlab import AttnlabError
    from attnlab.train.trainer import _read_log

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    assert _read_log(log, upto=2) == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo\n{"step": 3, "loss": 1.0}\n')
    with pytest.raises(AttnlabError, match="line 2"):
        _read_log(log, upto=3)
