"""Resumable training across time limits, with real signals to a real training process:
SIGTERM/SIGUSR1 write a checkpoint and exit; SIGKILL loses only the steps since the last periodic
checkpoint; either way a rerun ends with weights identical to an uninterrupted run's (CPU).
The same for a stack of members in one process (attnlab.train.lm_stack): every member resumes and
ends identical to that member trained alone."""

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


def start(data, run_dir, params=PARAMS):
    env = {**os.environ, "PYTHONPATH": WORKFLOW, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "attnlab.train.lm", "--input", "data", str(data),
                             "--output", "run_dir", str(run_dir), "--params", json.dumps(params)],
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


# --- the same for a stack of members (attnlab.train.lm_stack): one process, every member resumes --

STACK_SEEDS = [3, 4]


@pytest.fixture(scope="module")
def data2(tmp_path_factory):
    path = tmp_path_factory.mktemp("data2") / "markov.parquet"
    write_parquet(path, TASKS["markov_mixture"].generate(32, seed=1, seq_len=24, n_states=32))
    return path


@pytest.fixture(scope="module")
def reference2(data2, tmp_path_factory):
    """Member 2 trained alone (member 1 is `reference`: seed 3 on `data`)."""
    run = tmp_path_factory.mktemp("reference2") / "run"
    proc = start(data2, run, {**PARAMS, "seed": STACK_SEEDS[1]})
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return load_file(run / "model.safetensors")


def start_stack(datas, run_dirs):
    env = {**os.environ, "PYTHONPATH": WORKFLOW, "OMP_NUM_THREADS": "1"}
    params = {k: v for k, v in PARAMS.items() if k != "seed"}
    params["members"] = [{"seed": s} for s in STACK_SEEDS]
    return subprocess.Popen([sys.executable, "-m", "attnlab.train.lm_stack", "--input", "data", *map(str, datas),
                             "--output", "run_dir", *map(str, run_dirs), "--params", json.dumps(params)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_stack_signal_writes_a_checkpoint_and_rerun_resumes_every_member(data, data2, reference, reference2,
                                                                        tmp_path):
    runs = [tmp_path / "seed3", tmp_path / "seed4"]
    proc = start_stack([data, data2], runs)
    wait_for_step(runs[0], 30, proc)
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "checkpoint written" in err
    assert not any((r / "model.safetensors").exists() for r in runs)
    stopped = int(re.search(r"after step (\d+)", err).group(1))
    ckpts = sorted(p.name for p in (runs[0] / "checkpoints" / "checkpoints").glob("step*"))
    assert stopped >= 30 and ckpts[-1] == f"step{stopped:08d}"
    proc = start_stack([data, data2], runs)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert_same_weights(runs[0], reference)  # each member = that member trained alone, uninterrupted
    assert_same_weights(runs[1], reference2)
    assert not any((r / "checkpoints").exists() for r in runs)


def test_stack_sigkill_resumes_every_member_from_the_last_periodic_checkpoint(data, data2, reference, reference2,
                                                                             tmp_path):
    runs = [tmp_path / "seed3", tmp_path / "seed4"]
    proc = start_stack([data, data2], runs)
    wait_for_step(runs[0], 50, proc)
    proc.send_signal(signal.SIGSTOP)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert any((runs[0] / "checkpoints" / "checkpoints").glob("step*"))
    proc = start_stack([data, data2], runs)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert_same_weights(runs[0], reference)
    assert_same_weights(runs[1], reference2)
