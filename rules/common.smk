# Config validation, the experiment registry as steps, and the helpers that wire a step's record
# into a rule (rules/experiments.smk).
import json
import shlex
import sys
from pathlib import Path

WORKFLOW_SRC = str(REPO / "workflow")
sys.path.insert(0, WORKFLOW_SRC)
# Jobs run `python -m attnlab...`: make the package importable in every environment
# (venv, --sdm conda, SLURM) without installing it.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(WORKFLOW_SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

from snakemake.exceptions import WorkflowError

from attnlab import registry
from attnlab.codehash import code_version
from attnlab.config import ConfigError, enabled_experiments, validate_config
from attnlab.experiment import launch_prefix
from attnlab.scheduler_fix import install as install_scheduler_fix

install_scheduler_fix()  # one re-evaluation timer, not one per finished job (attnlab/scheduler_fix.py)

try:  # the schema, then every cross-key constraint: before any job starts
    validate_config(config, REPO / "config" / "schema.yaml")
    registry.check(config)
    STEPS = registry.steps(config)
except ConfigError as e:
    sys.stderr.write(f"attnlab: {e}\n")
    sys.exit(1)
EXPERIMENTS = enabled_experiments(config)
STEP_SHELL = (
    "{params.prefix}{params.launch} {params.module} {params.args}"
    " --params {params.json:q} > {log:q} 2>&1"
)


wildcard_constraints:
    seed=r"\d+",


def final_outputs():
    return ["results/claims.md", *registry.final_outputs(config, EXPERIMENTS)]


def as_json(obj):
    """Params travel to steps as one JSON argument (quoted with :q in the shell command)."""
    return json.dumps(obj, sort_keys=True)


def cli_args(names):
    """Named paths as `--input NAME PATH...` / `--output NAME PATH...` (attnlab.cli)."""
    args = []
    for flag, files in names:
        for name, paths in files.items():
            paths = [paths] if isinstance(paths, str) else list(paths)
            args.append(" ".join([flag, name, *map(shlex.quote, paths)]))
    return " ".join(args)


def step_inputs(step):
    return lambda w: step.inputs_for(dict(w.items()))


def step_outputs(group, step):
    out = {}
    for name, paths in step.output.items():
        one = isinstance(paths, str)
        marked = []
        for path in [paths] if one else paths:  # a list: a stacked step's members
            if name in step.directories:
                path = directory(path)
            if name in step.report:
                caption, labels = step.report[name]
                labels = labels if isinstance(labels, dict) else {"figure": labels}
                path = report(path, caption=caption, category=group, labels=labels)
            marked.append(path)
        out[name] = marked[0] if one else marked
    return out


def all_cores():
    """Every core this run was given (--cores); 1 when none was (e.g. a dry run without --cores)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def step_threads(step):
    """A job's cores. An exclusive (timing) step holds `timing_cores` (null: all of --cores): the
    scheduler's core count is a resource every job holds at least one unit of, so while a timing
    job runs no other job starts beside it, on any machine."""
    if step.exclusive:
        return config.get("timing_cores") or all_cores()
    return step.threads or config["threads"]


def step_priority(step):
    """Data synthesis first: its jobs take seconds and every training job waits on one, so with them
    done early all trainings are ready at once and the cores stay full (measured on the masks track:
    a test split synthesised late held three trainings back to the end of the run). Then training,
    longest first where a step says it is long (`Step.priority`), so a long stack does not start last
    and run alone (measured on the efficient track: grassmann's 229-s stack started at 428 s and ran
    alone for 176 s); everything else after."""
    if step.env == "synth":
        return 100
    if step.priority is not None:
        return step.priority
    return 10 if step.env == "train" else 0


def step_resources(step):
    gpu = config.get("gpu", 0) if step.gpu else 0
    res = {"mem_mb": step.mem_mb, "runtime": step.runtime, "gpu": gpu}
    if step.tasks != 1:
        # a multi-process job: the SLURM plugin allocates its tasks and nodes, and with `mpi` set
        # leaves the job's own srun (launch_prefix) to place them instead of wrapping it in `srun -n1`;
        # each process runs one thread
        res |= {
            "tasks": lambda w: step.tasks_for(w),
            "nodes": step.nodes,
            "mpi": "srun",
            "cpus_per_task": 1,
        }
    return res


def step_params(step):
    """The command's module, its named inputs/outputs, its JSON params and a hash of its code."""
    return {
        "module": step.module,
        "prefix": lambda w, resources: (
            f"python -m attnlab.gpuslots --gpus {resources.gpu} -- " if step.gpu else ""
        ),
        "launch": lambda w: launch_prefix(
            step.tasks_for(w), step.nodes, config.get("launcher", "local")
        ),
        "json": lambda w: as_json(step.params_for(dict(w.items()))),
        "args": lambda w, input, output: cli_args(
            [
                ("--input", input),
                ("--output", output),
                ("--output", step.cli_outputs_for(dict(w.items()))),
            ]
        ),
        "code": lambda w: code_version(
            step.module, *step.code, mechanisms=step.mechanisms_for(dict(w.items()))
        ),
    }
