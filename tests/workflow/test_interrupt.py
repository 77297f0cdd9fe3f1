"""Killing the whole run (SIGKILL to its process group) at several points and rerunning ends
with tables identical to an uninterrupted run's; no file under its final name is ever half-written.

The OCR slice of the smoke config keeps this affordable. Tables are compared byte for byte
except their wall-time provenance line (time is the one thing a rerun cannot reproduce).
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from safetensors import safe_open

from .conftest import copy_repo, snakemake

pytestmark = pytest.mark.workflow
TARGETS = ("results/tables/ocr.md", "results/claims/ocr.json")
ARGS = (*TARGETS, "--cores", "2", "--configfile", "config/smoke.yaml")
KILL_AFTER_S = (6.0, 14.0, 24.0)  # into the run: during synthesis/training, training, evaluation


def comparable(results: Path) -> dict[str, str]:
    out = {}
    for ext in ("md", "csv", "tex", "html"):
        text = (results / "tables" / f"ocr.{ext}").read_text()
        out[ext] = "\n".join(line for line in text.splitlines() if "wall_time_s" not in line)
    doc = json.loads((results / "claims/ocr.json").read_text())
    doc["provenance"].pop("wall_time_s")
    out["claims"] = json.dumps(doc, sort_keys=True)
    return out


def assert_no_half_written_files(results: Path):
    for path in results.rglob("*.parquet"):
        pd.read_parquet(path)
    for path in results.rglob("*.safetensors"):
        with safe_open(str(path), framework="pt") as f:
            list(f.keys())
    for path in results.rglob("*.json"):
        json.loads(path.read_text())


def kill_after(workdir: Path, seconds: float) -> bool:
    """Start the run, SIGKILL its whole process group after `seconds`; True if it was still running."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", *ARGS], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def test_killed_runs_resume_to_identical_tables(tmp_path):
    reference = copy_repo(tmp_path / "reference")
    snakemake(reference, *ARGS)

    work = copy_repo(tmp_path / "killed")
    killed = 0
    for seconds in KILL_AFTER_S:
        killed += kill_after(work, seconds)
        assert_no_half_written_files(work / "results")
        # a killed run leaves Snakemake's lock behind, as after a power cut
        snakemake(work, "--unlock", *ARGS)
    assert killed, "every run finished before the kill: nothing was tested"
    snakemake(work, *ARGS)
    assert comparable(work / "results") == comparable(reference / "results")
