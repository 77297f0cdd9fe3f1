"""Wall time of the default workflow from scratch and of a no-op rerun (not part of the tests).

    python bench/run_times.py [--config config/smoke.yaml] [--cores 2] [--targets results/tables/ocr.md]

Runs on a fresh copy of the repository in a temporary directory, so results/ here is untouched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", ".snakemake", "__pycache__", ".pytest_cache",
                                ".hypothesis", "results", "bench")


def timed(cmd, cwd) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="config file layered over config/config.yaml")
    p.add_argument("--cores", default="2")
    p.add_argument("--targets", nargs="*", default=[])
    p.add_argument("--keep", action="store_true", help="keep the temporary copy")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="attnlab-bench-"))
    work = tmp / "attnlab"
    shutil.copytree(REPO, work, ignore=IGNORE)
    # targets first: --configfile takes several values and would swallow them
    cmd = [sys.executable, "-m", "snakemake", *a.targets, "--cores", a.cores,
           *(["--configfile", a.config] if a.config else [])]
    print(f"bench: {' '.join(cmd[2:])} in {work}")
    scratch = timed(cmd, work)
    print(f"from scratch: {scratch:8.1f} s")
    noop = timed(cmd, work)
    print(f"no-op rerun:  {noop:8.1f} s")
    for tsv in sorted((work / "results" / "benchmarks").rglob("*.tsv")):
        lines = tsv.read_text().splitlines()
        if len(lines) > 1:
            print(f"  {float(lines[1].split()[0]):7.1f} s  {tsv.relative_to(work / 'results' / 'benchmarks')}")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
