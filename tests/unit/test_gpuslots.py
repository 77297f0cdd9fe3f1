"""The GPU-slot allocator, with a simulated GPU count: concurrent jobs never share a device."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROBE = ("import json, os, sys, time; t0 = time.time(); time.sleep(0.6); "
         "print(json.dumps({'dev': os.environ['CUDA_VISIBLE_DEVICES'], 't0': t0, 't1': time.time()}))")


def launch(gpus, env):
    return subprocess.Popen([sys.executable, "-m", "attnlab.gpuslots", "--gpus", str(gpus), "--",
                             sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    e.update(ATTNLAB_GPUS="2", ATTNLAB_GPU_SLOT_DIR=str(tmp_path / "slots"),
             PYTHONPATH=str(Path(__file__).resolve().parents[2] / "workflow"))
    return e


def test_concurrent_jobs_get_distinct_devices(env):
    procs = [launch(1, env) for _ in range(5)]
    runs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {r["dev"] for r in runs} <= {"0", "1"}
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            overlap = a["t0"] < b["t1"] and b["t0"] < a["t1"]
            assert not (overlap and a["dev"] == b["dev"]), f"device {a['dev']} shared by two jobs"


def test_two_gpu_job_gets_both_and_cpu_job_sees_none(env):
    p = launch(2, env)
    assert json.loads(p.communicate(timeout=60)[0])["dev"] == "0,1"
    p = launch(0, env)
    assert json.loads(p.communicate(timeout=60)[0])["dev"] == ""


def test_too_many_gpus_is_a_clear_error(env):
    proc = subprocess.run([sys.executable, "-m", "attnlab.gpuslots", "--gpus", "3", "--", "true"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "asks for 3 GPU(s) but this machine has 2" in proc.stderr


def test_scheduler_choice_passes_through(env):
    env = {**env, "CUDA_VISIBLE_DEVICES": "5"}
    del env["ATTNLAB_GPUS"]
    p = launch(1, env)
    assert json.loads(p.communicate(timeout=60)[0])["dev"] == "5"


def test_exit_status_and_signals_are_forwarded(env):
    proc = subprocess.run([sys.executable, "-m", "attnlab.gpuslots", "--gpus", "1", "--",
                           sys.executable, "-c", "import sys; sys.exit(7)"], env=env)
    assert proc.returncode == 7
    p = subprocess.Popen([sys.executable, "-m", "attnlab.gpuslots", "--gpus", "1", "--", sys.executable, "-c",
                          "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(42)); "
                          "print('ready', flush=True); time.sleep(30)"], env=env, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    p.terminate()
    assert p.wait(timeout=20) == 42
