"""Bad input: a clear error naming the file, a non-zero exit, and nothing half-written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnlab.ocr.synth import synthesize
from attnlab.ocr.train import build_model

WORKFLOW = str(Path(__file__).resolve().parents[2] / "workflow")


def step(module, *args):
    env = {**os.environ, "PYTHONPATH": WORKFLOW}
    return subprocess.run([sys.executable, "-m", module, *args], env=env, capture_output=True, text=True)


def files(d: Path):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.parquet"
    synthesize(3, 1, 1, seed=0).to_parquet(path)
    return path


TRAIN_PARAMS = {"run": {"parametrization": "combined", "head_dim": None, "optimizer": "adam", "lr": 0.01,
                        "steps": 5}, "vocab_size": 14, "init_std": 0.01, "log_every": 1, "seed": 1}


def test_truncated_parquet(tmp_path, data):
    data.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])
    run = tmp_path / "run"
    proc = step("attnlab.ocr.train", "--input", "data", str(data), "--output", "run_dir", str(run),
                "--params", json.dumps(TRAIN_PARAMS))
    assert proc.returncode == 2
    assert "corrupt or truncated Parquet file" in proc.stderr and str(data) in proc.stderr
    assert not run.exists() or files(run) == []


def evaluate(tmp_path, model_dir, data):
    manifest = [{"task": "t", "run": "combined-adam", "parametrization": "combined", "head_dim": None,
                 "optimizer": "adam", "seed_index": 0, "seed": 1, "model_dir": str(model_dir), "data": str(data)}]
    out = tmp_path / "out"
    proc = step("attnlab.ocr.evaluate", "--output", "metrics", str(out / "m.parquet"),
                "--output", "spectra", str(out / "s.parquet"), "--output", "claims", str(out / "c.json"),
                "--params", json.dumps({"manifest": manifest}))
    assert proc.returncode == 2, proc.stderr
    assert not out.exists() or files(out) == []
    return proc.stderr


def test_missing_model_directory(tmp_path, data):
    err = evaluate(tmp_path, tmp_path / "no-such-run", data)
    assert "missing model directory" in err and "no-such-run" in err


def test_checkpoint_that_is_not_safetensors_is_never_unpickled(tmp_path, data):
    run = tmp_path / "run"
    model = build_model(14, {"parametrization": "combined", "head_dim": None}, 0.01, seed=0)
    model.save_pretrained(run)
    sentinel = tmp_path / "unpickled"

    class Trap:  # unpickling this would create the sentinel file
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    torch.save({"w": Trap()}, run / "model.safetensors")
    err = evaluate(tmp_path, run, data)
    assert "not a safetensors checkpoint" in err and "model.safetensors" in err
    assert not sentinel.exists()
    # a pickle checkpoint under its usual name is not looked at either
    (run / "model.safetensors").rename(run / "pytorch_model.bin")
    err = evaluate(tmp_path, run, data)
    assert "missing checkpoint" in err and not sentinel.exists()
