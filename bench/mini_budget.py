"""Wall time of one track of experiments from scratch at mini scale, against its budget on 2
cores. Not part of the tests.

    python bench/mini_budget.py theory   # icl_regression, pavlov, random_features: 6 minutes
    python bench/mini_budget.py vision   # image_world, ir_diffusion, mucr, envision: 15 minutes
    python bench/mini_budget.py lm       # moh, dynamic_mask, meta_tokens, retrieval_heads, attention_sinks: 15 minutes
    python bench/mini_budget.py masks    # cab, multihop_mask, pine: 12 minutes
    python bench/mini_budget.py efficient  # superlinear, grassmann, alt_attention: 12 minutes
    python bench/mini_budget.py mechanistic   # preplan_anchor, soft_injection, circuits (issue 16): 10 minutes
    python bench/mini_budget.py costs    # attention_costs, the cost-exponent sweeps (issue 15): 7 minutes (ours)
    python bench/mini_budget.py vlm      # the base VLM (3 seeds, stages V/T/A/S) and vit_heads (issue 18): 20 minutes
    options: [--config config/smoke.yaml] [--cores 2] [--budget SECONDS] [--keep]

Runs on a fresh copy of the repository in a temporary directory, so results/ here is untouched;
prints the machine (CPU model, vector ISA, one thread's fp32 matmul rate), the total, the summed
job wall and CPU time per rule, the CPU time of every process of the run, and whether the total is
within the budget. Wall time is only meaningful on an otherwise idle machine, and only comparable
between machines of the same kind.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", ".snakemake", "__pycache__", ".pytest_cache",
                                ".hypothesis", "results", "bench")
# track: (experiments, budget in seconds, other benchmark folders the track's jobs write)
TRACKS = {
    "theory": (("icl_regression", "pavlov", "random_features"), 360.0, ()),
    "vision": (("image_world", "ir_diffusion", "mucr", "envision"), 900.0, ("vision",)),
    "lm": (("moh", "dynamic_mask", "meta_tokens", "retrieval_heads", "attention_sinks"), 900.0, ()),
    "masks": (("cab", "multihop_mask", "pine"), 720.0, ()),
    "efficient": (("superlinear", "grassmann", "alt_attention"), 720.0, ()),
    # issue 16: preplan_anchor, circuits and soft_injection together <= 10 min
    "mechanistic": (("preplan_anchor", "soft_injection", "circuits"), 600.0, ()),
    # issue 15's cost-exponent table (every mechanism's timing sweep); no issue sets its budget: ours, 7 minutes
    # since the sweeps take the median of 5 repeats (366 s measured idle, bench/README)
    "costs": (("attention_costs",), 420.0, ()),
    # issue 18: the base VLM (3 seeds) and vit_heads <= 20 minutes
    "vlm": (("vlm", "vit_heads"), 1200.0, ()),
}


def targets(experiments) -> list[str]:
    """Each experiment's table files (the table rule also writes its figures) and claims."""
    out = []
    for exp in experiments:
        out += [f"results/tables/{exp}.{ext}" for ext in ("md", "csv", "tex", "html")]
        out.append(f"results/claims/{exp}.json")
    return out


# one thread's fp32 matmul rate (bench/train_throughput.matmul_peak), in a fresh interpreter: this
# script does not import torch, and the probe's imports end before the timed run starts
PEAK = "from train_throughput import matmul_peak; print(round(matmul_peak() / 1e9))"


def machine() -> str:
    """The CPU a run is timed on: model, vector ISA and one thread's fp32 matmul rate. Machines of
    different kinds are drawn from session to session (bench/README "This machine is not FACTS.md's
    machine": AVX2 at ~60 GFLOP/s against AVX-512 at ~100), so a wall time means little without it."""
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    probe = subprocess.run([sys.executable, "-c", f"import torch; torch.set_num_threads(1); {PEAK}"],
                           cwd=Path(__file__).parent, capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    rate = probe.stdout.strip() if probe.returncode == 0 else "?"
    return f"{model}, {isa}, fp32 matmul {rate} GFLOP/s on one thread"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("track", choices=sorted(TRACKS))
    p.add_argument("--config", help="config file layered over config/config.yaml")
    p.add_argument("--cores", default="2")
    p.add_argument("--budget", type=float, help="target wall time in seconds (default: the track's)")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy")
    a = p.parse_args()
    experiments, budget, extra = TRACKS[a.track]
    a.budget = a.budget or budget
    groups = (*experiments, *extra)
    tmp = Path(tempfile.mkdtemp(prefix=f"attnlab-{a.track}-"))
    work = tmp / "attnlab"
    shutil.copytree(REPO, work, ignore=IGNORE)
    # targets first: --configfile takes several values and would swallow them
    cmd = [sys.executable, "-m", "snakemake", *targets(experiments), "--cores", a.cores,
           *(["--configfile", a.config] if a.config else [])]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    print(f"bench: snakemake <{len(targets(experiments))} targets> --cores {a.cores} "
          f"{'--configfile ' + a.config if a.config else ''} in {work}")
    print(f"machine: {machine()}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed after {wall:.1f} s:\n{proc.stderr[-3000:]}")
    per_rule: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for tsv in sorted((work / "results" / "benchmarks").rglob("*.tsv")):
        rel = tsv.relative_to(work / "results" / "benchmarks")
        lines = tsv.read_text().splitlines()
        if rel.parts[0] in groups and len(lines) > 1:
            step = rel.parts[1] if len(rel.parts) > 2 else rel.stem
            fields = dict(zip(lines[0].split("\t"), lines[1].split("\t")))
            per_rule[f"{rel.parts[0]}/{step}"].append(float(fields["s"]))
            cpu[f"{rel.parts[0]}/{step}"].append(float(fields.get("cpu_time", "nan")))
    print(f"from scratch: {wall:7.1f} s wall (budget {a.budget:.0f} s)")
    for rule, times in sorted(per_rule.items()):
        print(f"  {sum(times):7.1f} s wall, {sum(cpu[rule]):7.1f} s CPU in {len(times):3d} job(s)  {rule}")
    total_cpu = sum(map(sum, cpu.values()))
    print(f"  {sum(map(sum, per_rule.values())):7.1f} s summed job wall, {total_cpu:.1f} s CPU "
          f"(/{a.cores} cores = {total_cpu / int(a.cores):.1f} s if uncontended)")
    # every process of the run, Snakemake's own included (the benchmark files sample each job's
    # process tree and miss what Snakemake and short-lived children spend)
    print(f"  {after.ru_utime - before.ru_utime:7.1f} s user + {after.ru_stime - before.ru_stime:.1f} s sys "
          "in all processes of the run")
    print("within budget" if wall <= a.budget else "OVER BUDGET")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if wall <= a.budget else 1)


if __name__ == "__main__":
    main()
