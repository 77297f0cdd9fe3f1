"""Train one attnlab causal LM on a task file and save it as a run directory.

    python -m attnlab.train.lm --input data D.parquet --output run_dir R --params JSON
    params: {"model": AttnLMConfig kwargs, "train": TrainSettings fields, "seed": int,
             "meta_token_rate": float (optional: insert meta-tokens into every sequence)}

The run directory (config.json, train_log.jsonl, model.safetensors) loads with
`AutoModelForCausalLM.from_pretrained(R)` after `import attnlab.models`. While training,
checkpoints live in R/checkpoints/ (a killed job resumes from the newest); they are removed once the
final model is written. Data parallel on N processes (see attnlab.train.trainer):
`torchrun --standalone --nproc_per_node N -m attnlab.train.lm ...` with the same arguments; rank 0
writes the run directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from attnlab.cli import StepArgs, run_step
from attnlab.config import config_hash
from attnlab.io import atomic_dir, read_parquet
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.seeds import seed_everything
from attnlab.train.data import RandomBatches, SequenceData, insert_meta_tokens
from attnlab.train.trainer import LOG, TrainingPreempted, TrainSettings, train


def build_model(model_params: dict, seed: int) -> AttnLMForCausalLM:
    seed_everything(seed)
    return AttnLMForCausalLM(AttnLMConfig(**model_params))


def batches_for(df, settings: TrainSettings, seed: int, meta_token_rate: float = 0.0) -> RandomBatches:
    transform = insert_meta_tokens(meta_token_rate) if meta_token_rate > 0 else None
    return RandomBatches(SequenceData(df), settings.batch_size, seed, transform)


def main(args: StepArgs) -> None:
    p = args.params
    run_dir = Path(args.output("run_dir"))
    work = run_dir / "checkpoints"
    settings = TrainSettings.from_dict(p["train"])
    model = build_model(p["model"], p["seed"])
    batches = batches_for(read_parquet(args.input("data")), settings, p["seed"], p.get("meta_token_rate", 0.0))
    # a checkpoint resumes only the same run: same params (model, data transform, seed) and input file
    data_stat = Path(args.input("data")).stat()
    run_key = config_hash({"params": p, "data": [data_stat.st_size, data_stat.st_mtime_ns]})
    try:
        train(model, batches, settings, work, run_key=run_key, desc=run_dir.name)
    except TrainingPreempted as e:  # checkpoint written: exit like the signal would, outputs absent
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"attnlab: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun every rank ends with rank 0's weights
        return
    with atomic_dir(run_dir) as tmp:
        shutil.copy(work / LOG, tmp / LOG)
        model.save_pretrained(tmp)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_step(main, description=__doc__)
