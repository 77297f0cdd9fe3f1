"""Train every seed (member) of one attnlab LM configuration in one process, as one stack.

    python -m attnlab.train.lm_stack --input data D1 D2 ... --output run_dir R1 R2 ... --params JSON
    params: {"model": AttnLMConfig kwargs, "train": TrainSettings fields,
             "meta_token_rate": float (optional), "engine": "loop" | "vmap" (optional, default loop),
             "members": [{"seed": int, "data": D_i (optional), "run_dir": R_i (optional)}, ...]}

Member i has its own seed (initialisation and batch order), trains on the i-th `--input data`
file and writes the i-th `--output run_dir`; a member's "data"/"run_dir", when given, must name the
same paths; everything else is shared (an experiment's variants in one job, `stack_variants`,
run this module once per variant in one process: `attnlab.experiment.stacked_step`). Every run
directory is exactly what `python -m attnlab.train.lm` writes for that seed alone (config.json,
train_log.jsonl, model.safetensors; with the default engine the same bytes of weights), loadable with `AutoModelForCausalLM.from_pretrained(R_i)` after `import attnlab.models`.

While training, each member's log is R_i/checkpoints/train_log.jsonl and the stack's checkpoints
live in R_1/checkpoints/checkpoints/; SIGTERM/SIGUSR1 write one and exit with 128+signal, and a
rerun of the same command resumes every member. All checkpoints are removed once every member's
final model is written.

Under torchrun (WORLD_SIZE > 1: a step with `tasks`, config key `processes`) the members train one
after another, each with the one-model data-parallel trainer of attnlab.train.trainer (every rank
on its share of each global batch); rank 0 writes the run directories, which then equal a
one-process run's within fp32 summation order.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.config import config_hash
from attnlab.io import atomic_dir, read_parquet
from attnlab.train.lm import batches_for, build_model
from attnlab.train.stack import train_stack
from attnlab.train.trainer import LOG, TrainingPreempted, TrainSettings, pick_device, train


def members_of(args: StepArgs) -> list[dict]:
    """[{"seed", "data", "run_dir"}, ...]: the params' members with the command line's paths."""
    members = args.params.get("members")
    if not isinstance(members, list) or not members:
        raise AttnlabError("lm_stack: params.members must be a non-empty list of {seed, data?, run_dir?}")
    data, run_dirs = args.inputs.get("data", []), args.outputs.get("run_dir", [])
    for key, given in (("data", data), ("run_dir", run_dirs)):
        if given and len(given) != len(members):
            raise AttnlabError(f"lm_stack: {len(given)} {key} paths for {len(members)} members")
    out = []
    for i, m in enumerate(members):
        paths = {}
        for key, given in (("data", data), ("run_dir", run_dirs)):
            cli = given[i] if given else None
            if cli is not None and m.get(key) not in (None, cli):
                raise AttnlabError(f"lm_stack: member {i} names {key} {m[key]!r} but the command line gives {cli!r}")
            paths[key] = cli if cli is not None else m.get(key)
            if paths[key] is None:
                raise AttnlabError(f"lm_stack: member {i} has no {key} (give --{'input' if key == 'data' else 'output'} "
                                   f"{key} ... or members[{i}].{key})")
        unknown = set(m) - {"seed", "data", "run_dir"}
        if unknown:
            raise AttnlabError(f"lm_stack: members[{i}] sets {sorted(unknown)}; a member sets only its seed and "
                               "paths (a stack shares its model and schedule)")
        out.append({"seed": int(m["seed"]), **paths})
    dirs = [m["run_dir"] for m in out]
    if len(set(dirs)) != len(dirs):
        raise AttnlabError("lm_stack: two members share a run_dir")
    return out


def stack_name(run_dirs: list[Path]) -> str:
    """The progress bar's label: the configuration (or configurations) and the member count."""
    names = list(dict.fromkeys(r.parent.name for r in run_dirs))
    return f"{'+'.join(names)} x{len(run_dirs)}"


def main(args: StepArgs) -> None:
    p = args.params
    members = members_of(args)
    settings = TrainSettings.from_dict(p["train"])
    if "model" not in p:
        raise AttnlabError("lm_stack: params.model is missing")
    engine = p.get("engine", "loop")
    models = [build_model(p["model"], m["seed"]) for m in members]
    batches = [batches_for(read_parquet(m["data"]), settings, m["seed"], p.get("meta_token_rate") or 0.0)
               for m in members]
    run_dirs = [Path(m["run_dir"]) for m in members]
    works = [r / "checkpoints" for r in run_dirs]
    # a checkpoint resumes only the same stack: same params (model, data transform, seeds) and input files
    stats = [[Path(m["data"]).stat().st_size, Path(m["data"]).stat().st_mtime_ns] for m in members]
    shared = {k: v for k, v in p.items() if k != "members"}
    run_key = config_hash({"params": shared, "members": [m["seed"] for m in members], "data": stats})
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        if world > 1:
            data_parallel(models, batches, settings, works, [f"{run_key}-{m['seed']}" for m in members], run_dirs)
        else:
            train_stack(models, batches, settings, works[0], engine=engine, log_dirs=works,
                        run_key=run_key, desc=stack_name(run_dirs))
    except TrainingPreempted as e:  # checkpoint written: exit like the signal would, outputs absent
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"attnlab: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    if int(os.environ.get("RANK", "0")) != 0:  # every rank ends with rank 0's weights; rank 0 writes
        return
    for model, run_dir, work in zip(models, run_dirs, works):
        with atomic_dir(run_dir) as tmp:
            shutil.copy(work / LOG, tmp / LOG)
            model.save_pretrained(tmp)
    for work in works:
        shutil.rmtree(work, ignore_errors=True)


def data_parallel(models, batches, settings: TrainSettings, works, run_keys, run_dirs) -> None:
    """Under torchrun: every member in turn with the one-model DDP trainer, in one process group
    (the stacked engine is single-process)."""
    import torch.distributed as dist

    own = not dist.is_initialized()
    if own:
        dist.init_process_group("nccl" if pick_device(settings.device).type == "cuda" else "gloo")
    try:
        for model, get_batch, work, key, run_dir in zip(models, batches, works, run_keys, run_dirs):
            train(model, get_batch, settings, work, run_key=key, desc=run_dir.name)
    finally:
        if own:
            dist.destroy_process_group()


if __name__ == "__main__":
    run_step(main, description=__doc__)
