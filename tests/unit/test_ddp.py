"""Data-parallel training under torchrun (gloo on the CPU): two processes end with one process's
weights, rank 0 alone writes, and a run whose every rank is killed resumes to the same weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from attnlab.io import write_parquet
from attnlab.tasks import TASKS

ROOT = Path(__file__).resolve().parents[2]
MODEL = {"vocab_size": 40, "n_positions": 32, "n_embd": 16, "n_layer": 2, "n_head": 2}
# batch 6: rows 0,2,4 go to rank 0 and 1,3,5 to rank 1; sequences cut to random lengths give the two
# ranks different numbers of target tokens, which the trainer's loss weighting must account for
TRAIN = dict(steps=20, batch_size=6, lr=3e-3, warmup_steps=3, checkpoint_every=5, log_every=5,
             precision="fp32", device="cpu")
PARAMS = {"model": MODEL, "train": TRAIN, "seed": 3}
TOL = 1e-5  # fp32: only the order of the gradient sums differs

# Run by torchrun in place of `-m attnlab.train.lm`: records every checkpoint write with its rank and,
# once the checkpoint of step KILL_AT is complete, SIGKILLs torchrun and every rank (a crashed node or
# `scancel -s KILL`: no rank gets to clean up).
KILLER = '''
import os, signal, sys
import attnlab.train.trainer as trainer
from attnlab.cli import run_step
from attnlab.train import lm

save = trainer.save_checkpoint

def save_then_kill(root, step, *args, **kwargs):
    path = save(root, step, *args, **kwargs)
    with open(os.environ["CKPT_CALLS"], "a") as fh:
        fh.write(f"{os.environ['RANK']} {step}\\n")
    if step == int(os.environ["KILL_AT"]):
        agent = os.getppid()
        ranks = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == agent]
        for pid in [agent] + [p for p in ranks if p != os.getpid()]:
            os.kill(pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
    return path

def _ppid(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("PPid:"))
    except (OSError, StopIteration):
        return None

trainer.save_checkpoint = save_then_kill
run_step(lm.main)
'''


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "task.parquet"
    df = TASKS["markov_mixture"].generate(48, seed=0, seq_len=24, n_states=32)
    lengths = np.random.default_rng(0).integers(6, 25, len(df))  # ragged: see TRAIN
    df["input_ids"] = [list(x)[:n] for x, n in zip(df["input_ids"], lengths)]
    df["target_mask"] = [list(m)[:n] for m, n in zip(df["target_mask"], lengths)]
    write_parquet(path, df)
    return path


def step_args(data, run_dir):
    return ["--input", "data", str(data), "--output", "run_dir", str(run_dir), "--params", json.dumps(PARAMS)]


def env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT / "workflow"), "OMP_NUM_THREADS": "1", **extra}


def torchrun(entry: list[str], args, tmp, name, **extra_env):
    """`torchrun --standalone --nproc_per_node 2` with each rank's output in tmp/logs-<name>/."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--log-dir", str(tmp / f"logs-{name}"), "--redirects", "3", *entry, *args]
    return subprocess.run(cmd, cwd=tmp, env=env(**extra_env), capture_output=True, text=True, timeout=120)


def rank_stderr(tmp, name, rank) -> str:
    (path,) = (tmp / f"logs-{name}").glob(f"*/attempt_0/{rank}/stderr.log")
    return path.read_text()


def weights(run_dir) -> dict[str, torch.Tensor]:
    return load_file(Path(run_dir) / "model.safetensors")


def max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory):
    from attnlab.cli import run_step
    from attnlab.train import lm

    run_dir = tmp_path_factory.mktemp("one") / "run"
    run_step(lm.main, step_args(data, run_dir))
    return run_dir


def test_two_processes_end_with_one_process_weights_and_rank0_writes(tmp_path, data, one_process):
    run_dir = tmp_path / "two"
    res = torchrun(["-m", "attnlab.train.lm"], step_args(data, run_dir), tmp_path, "two")
    assert res.returncode == 0, res.stderr[-3000:]
    one, two = weights(one_process), weights(run_dir)
    assert max_diff(one, two) < TOL
    # the run really trained: the weights moved far more than the tolerance
    from attnlab.train import lm

    init = {k: v for k, v in lm.build_model(MODEL, PARAMS["seed"]).state_dict().items() if k in one}
    assert max_diff(init, one) > 1e-2
    # one log, written by rank 0 alone, with the whole batch's loss and token count
    log1 = [json.loads(x) for x in (one_process / "train_log.jsonl").read_text().splitlines()]
    log2 = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log2] == [5, 10, 15, 20] == [r["step"] for r in log1]
    for a, b in zip(log1, log2):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
        assert b["tokens"] == a["tokens"]
    assert not (run_dir / "checkpoints").exists()
    # the progress bar comes from rank 0 only
    assert "two: 100%" in rank_stderr(tmp_path, "two", 0)
    assert "two" not in rank_stderr(tmp_path, "two", 1)


def test_killing_every_rank_after_a_checkpoint_resumes_to_the_same_weights(tmp_path, data, one_process):
    (tmp_path / "killer.py").write_text(KILLER)
    run_dir, calls = tmp_path / "killed", tmp_path / "ckpt_calls.txt"
    res = torchrun(["killer.py"], step_args(data, run_dir), tmp_path, "killed", CKPT_CALLS=str(calls), KILL_AT="10")
    assert res.returncode == -9, res.stderr[-3000:]  # torchrun itself was SIGKILLed
    assert calls.read_text().split("\n")[:-1] == ["0 5", "0 10"]  # written once, by rank 0
    ckpts = sorted(p.name for p in (run_dir / "checkpoints" / "checkpoints").iterdir())
    assert ckpts == ["step00000005", "step00000010"]
    assert not (run_dir / "model.safetensors").exists()

    res = torchrun(["-m", "attnlab.train.lm"], step_args(data, run_dir), tmp_path, "resumed")
    assert res.returncode == 0, res.stderr[-3000:]
    assert max_diff(weights(one_process), weights(run_dir)) < TOL
    log = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20]


def test_a_global_batch_that_does_not_divide_by_the_processes_is_refused(tmp_path, data):
    from attnlab.train.trainer import _Distributed

    dist = _Distributed(torch.device("cpu"))
    dist.world, dist.rank = 4, 1  # only shard() is used: no process group is needed
    batch = {"input_ids": torch.arange(12).view(6, 2), "labels": torch.arange(12).view(6, 2)}
    with pytest.raises(Exception, match="must divide by the 4 processes"):
        dist.shard(batch)
    dist.world = 3
    assert torch.equal(dist.shard(batch)["input_ids"], torch.tensor([[2, 3], [8, 9]]))


def test_sigterm_to_torchrun_stops_every_rank_after_the_same_step_and_rerun_resumes(tmp_path, data):
    import signal
    import time

    params = {**PARAMS, "train": {**TRAIN, "steps": 400, "checkpoint_every": 100, "log_every": 50}}
    args = ["--input", "data", str(data), "--output", "run_dir", str(tmp_path / "run"), "--params", json.dumps(params)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--log-dir", str(tmp_path / "logs"), "--redirects", "3", "-m", "attnlab.train.lm", *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = tmp_path / "run" / "checkpoints" / "train_log.jsonl"
    deadline = time.monotonic() + 90
    while not (log.is_file() and log.read_text().strip()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # training has begun: at least step 50 is logged
    proc.send_signal(signal.SIGTERM)  # torchrun passes it on to every rank
    proc.communicate(timeout=90)
    assert proc.returncode != 0
    errs = [next((tmp_path / "logs").glob(f"*/attempt_0/{r}/stderr.log")).read_text() for r in (0, 1)]
    assert "stopped by SIGTERM after step" in errs[0] and "stopped by" not in errs[1]  # rank 0 reports
    step = int(errs[0].split("stopped by SIGTERM after step ")[1].split(";")[0])
    assert 50 <= step < 400
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints" / "checkpoints").iterdir())
    assert ckpts[-1] == f"step{step:08d}"  # the checkpoint of the step both ranks agreed on

    res = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    # over 400 steps fp32 summation order moves the weights ~1e-3 from one process's: the reference
    # is the same two-process run, uninterrupted, and a resumed run must match it exactly
    ref = [*args[:-3], str(tmp_path / "ref"), *args[-2:]]
    res = torchrun(["-m", "attnlab.train.lm"], ref, tmp_path, "ref")
    assert res.returncode == 0, res.stderr[-3000:]
    assert max_diff(weights(tmp_path / "ref"), weights(tmp_path / "run")) == 0.0
