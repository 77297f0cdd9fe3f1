"""Give each GPU job its own devices on a multi-GPU workstation.

Snakemake counts the `gpu` resource (`--resources gpu=4`) but does not say *which* GPU a job
gets. Rules run their command through this wrapper:

    python -m attnlab.gpuslots --gpus {resources.gpu} -- python -m attnlab.train.lm ...

It takes `--gpus` free slots, each an exclusive lock on `<slot dir>/gpu<i>.lock` held for the
life of the command (a crashed job releases its locks with its process), sets
CUDA_VISIBLE_DEVICES to those indices, runs the command, forwards SIGTERM/SIGINT/SIGUSR1 to it
and exits with its status. A job asking for 0 GPUs sees none.

- GPU count: ATTNLAB_GPUS (also how tests simulate GPUs), else `nvidia-smi -L`, else 0.
- If CUDA_VISIBLE_DEVICES is already set and ATTNLAB_GPUS is not (a SLURM allocation), it is
  passed through unchanged: the scheduler has already chosen.
- Slot dir: ATTNLAB_GPU_SLOT_DIR, else `.snakemake/gpu-slots` in the working directory.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def gpu_count() -> int:
    if os.environ.get("ATTNLAB_GPUS", "") != "":
        return int(os.environ["ATTNLAB_GPUS"])
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        if out.returncode == 0:
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    return 0


def acquire(n: int, total: int, slot_dir: Path, poll_s: float = 0.2) -> tuple[list[int], list]:
    """Lock `n` of `total` slots; wait while fewer are free. Returns (indices, open lock files)."""
    slot_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        got, handles = [], []
        for i in range(total):
            fh = open(slot_dir / f"gpu{i}.lock", "a")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            got.append(i)
            handles.append(fh)
            if len(got) == n:
                return got, handles
        for fh in handles:
            fh.close()  # releases the lock
        if not waited:
            print(f"gpuslots: waiting for {n} free GPU slot(s) of {total}", file=sys.stderr)
            waited = True
        time.sleep(poll_s)


def run(cmd: list[str], gpus: int) -> int:
    env = dict(os.environ)
    handles = []
    if "CUDA_VISIBLE_DEVICES" in env and os.environ.get("ATTNLAB_GPUS", "") == "":
        pass  # a scheduler (SLURM) already chose the devices
    elif gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    else:
        total = gpu_count()
        if gpus > total:
            print(f"error: the job asks for {gpus} GPU(s) but this machine has {total} "
                  "(set the rule's gpu resource, or ATTNLAB_GPUS)", file=sys.stderr)
            return 2
        slot_dir = Path(os.environ.get("ATTNLAB_GPU_SLOT_DIR", ".snakemake/gpu-slots"))
        ids, handles = acquire(gpus, total, slot_dir)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, ids))
    child = subprocess.Popen(cmd, env=env)
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    try:
        return child.wait()
    finally:
        for fh in handles:
            fh.close()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpus", type=int, required=True, help="GPUs this job needs (the rule's gpu resource)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command to run")
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("no command given after --")
    if a.gpus < 0:
        p.error("--gpus must be >= 0")
    sys.exit(run(cmd, a.gpus))


if __name__ == "__main__":
    main()
