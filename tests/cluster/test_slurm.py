"""The smoke workflow (its pavlov slice: capacity, evaluation, table, claims) on a real single-node SLURM
cluster, through profiles/slurm, with one injected job failure that SLURM-level retry (the profile's `retries`) recovers from.

Needs root on Debian 12 (packages are installed when missing); skipped elsewhere, and when
ATTNLAB_SKIP_SLURM=1. CI runs it.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.workflow.conftest import copy_repo, snakemake

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.cluster


def _why_not() -> str | None:
    if os.environ.get("ATTNLAB_SKIP_SLURM") == "1":
        return "ATTNLAB_SKIP_SLURM=1"
    if os.geteuid() != 0:
        return "the SLURM test needs root (it starts munge, slurmctld and slurmd)"
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        return "no apt-get to install SLURM"
    if Path("/etc/slurm/slurm.conf").exists() and "attnlab" not in Path("/etc/slurm/slurm.conf").read_text():
        return "a real /etc/slurm/slurm.conf exists; not touching it"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm-state")
    env = {**os.environ, "STATE": str(state)}
    up = subprocess.run(["bash", str(HERE / "slurm-up.sh")], env=env, capture_output=True, text=True)
    try:
        assert up.returncode == 0, up.stderr
        yield state
    finally:
        subprocess.run(["bash", str(HERE / "slurm-down.sh")], env=env, capture_output=True, text=True)


def test_smoke_workflow_on_slurm_survives_an_injected_failure(slurm, tmp_path):
    work = copy_repo(tmp_path / "attnlab")
    marker = tmp_path / "failed-once"
    os.environ["ATTNLAB_FAIL_ONCE"] = f"attnlab.pavlov.evaluate={marker}"
    try:
        proc = snakemake(
            work, "results/tables/pavlov.md",
            "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml",
            # poll fast on this one-node test cluster (the profile's defaults suit real clusters)
            "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
            timeout=1500,
        )
    finally:
        del os.environ["ATTNLAB_FAIL_ONCE"]
    log = proc.stdout + proc.stderr
    assert marker.exists(), "the injected failure never ran"
    assert "failure injected" in log or "Trying to restart job" in log
    assert "Trying to restart job" in log  # the retry came from the profile
    assert "submitted with SLURM jobid" in log
    assert (work / "results/tables/pavlov.md").stat().st_size > 0
    assert (work / "results/claims/pavlov.json").stat().st_size > 0


def test_a_two_task_job_runs_through_srun_and_torchrun_and_matches_the_local_run(slurm, tmp_path):
    """distributed_attention's P=2 job asks for 2 tasks: under the profile (launcher: slurm, resource
    mpi) SLURM allocates them and the job's own srun starts torch.distributed.run, whose 2 gloo
    processes check ring, Ulysses and head-parallel attention against one-process dense attention.
    Every count and error equals the same job run locally with torchrun."""
    import pandas as pd

    target = "results/distributed_attention/checks/P2.parquet"
    here, there = copy_repo(tmp_path / "local"), copy_repo(tmp_path / "cluster")
    snakemake(here, target, "--cores", "2", "--configfile", "config/smoke.yaml")
    proc = snakemake(there, target, "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml",
                     "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
                     timeout=900)
    assert "submitted with SLURM jobid" in proc.stdout + proc.stderr
    log = (there / "results/logs/distributed_attention/check/2.log").read_text()
    assert "error" not in log.lower(), log[-2000:]
    a, b = (pd.read_parquet(w / target).drop(columns="wall_s") for w in (here, there))
    assert len(a) == len(b) > 0 and (a["P"] == 2).all()
    pd.testing.assert_frame_equal(a, b)
    assert (b["forward_err"] <= 1e-5).all() and (b["grad_err"] <= 1e-5).all()


def test_a_data_parallel_training_job_on_slurm_ends_with_the_one_process_weights(slurm, tmp_path):
    """One LM training job (moh's MHA stack, both smoke seeds) with `processes=2`: SLURM allocates 2
    tasks, srun starts torch.distributed.run, DDP trains each seed; its weights equal the same job
    trained in one local process, within fp32 summation order."""
    import torch
    from safetensors.torch import load_file

    target = "results/moh/runs/mqar/mha/seed0/model.safetensors"
    here, there = copy_repo(tmp_path / "local"), copy_repo(tmp_path / "cluster")
    snakemake(here, target, "--cores", "2", "--configfile", "config/smoke.yaml", "--config", "stack_variants=False")
    proc = snakemake(there, target, "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml",
                     "--config", "processes=2", "stack_variants=False",  # MHA alone (smoke stacks the variants)
                     "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
                     timeout=900)
    assert "submitted with SLURM jobid" in proc.stdout + proc.stderr
    for seed in (0, 1):
        rel = target.replace("seed0", f"seed{seed}")
        a, b = load_file(here / rel), load_file(there / rel)
        for name in a:
            torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=f"{rel}: {name}")
