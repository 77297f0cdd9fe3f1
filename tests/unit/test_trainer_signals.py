"""Resumable training across time limits, with real signals to a real training process:
SIGTERM/SIGUSR1 write a checkpoint and exit; SIGKILL loses only the steps since the last periodic
checkpoint; either way a rerun ends with weights identical to an uninterrupted run's (CPU)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from attnlab.io import write_parquet
from attnlab.tasks import TASKS

WORKFLOW = str(Path(__file__).resolve().parents[2] / "workflow")
PARAMS = {
    "model": {"vocab_size": 40, "n_positions": 32, "n_embd": 16, "n_layer": 1, "n_head": 2,
              "attention": "softmax", "attention_options": {}},
    "train": {"steps": 300, "batch_size": 4, "lr": 3e-3, "warmup_steps": 5, "checkpoint_every": 20,
              "log_every": 1},
    "seed": 3,
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "markov.parquet"
    write_parquet(path, TASKS["markov_mixture"].generate(32, seed=0, seq_len=24, n_states=32))
    return path


def start(data, run_dir):
    env = {**os.environ, "PYTHONPATH": WORKFLOW, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "attnlab.train.lm", "--input", "data", str(data),
                             "--output", "run_dir", str(run_dir), "--params", json.dumps(PARAMS)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(run_dir: Path, step: int, proc, timeout=120):
    log = run_dir / "checkpoints" / "train_log.jsonl"
    end = time.time() + timeout
    while time.time() < end:
        if log.is_file():
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
            if lines and lines[-1]["step"] >= step:
                return lines[-1]["step"]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"training never reached step {step}")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    proc = start(data, run)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return load_file(run / "model.safetensors")


def assert_same_weights(run_dir, reference):
    weights = load_file(run_dir / "model.safetensors")
    assert weights.keys() == reference.keys()
    for k in weights:
        assert (weights[k] == reference[k]).all(), k


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_signal_writes_a_checkpoint_and_rerun_resumes(data, reference, tmp_path, sig):
    run = tmp_path / "run"
    proc = start(data, run)
    wait_for_step(run, 30, proc)
    # freeze it first, so the signal surely lands before training could finish on a fast machine
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "checkpoint written" in err
    assert not (run / "model.safetensors").exists()
    # the signal's own checkpoint (not only the periodic ones) is the newest
    stopped = int(re.search(r"after step (\d+)", err).group(1))
    ckpts = sorted(p.name for p in (run / "checkpoints" / "checkpoints").glob("step*"))
    assert stopped >= 30 and ckpts[-1] == f"step{stopped:08d}"
    proc = start(data, run)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert_same_weights(run, reference)


def test_sigkill_resumes_from_the_last_periodic_checkpoint(data, reference, tmp_path):
    run = tmp_path / "run"
    proc = start(data, run)
    wait_for_step(run, 50, proc)
    proc.send_signal(signal.SIGSTOP)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert any((run / "checkpoints" / "checkpoints").glob("step*"))
    proc = start(data, run)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert_same_weights(run, reference)
