"""Train every (mechanism, seed) model of one CAB pattern in one process, as one stack
(attnlab.train.stack, loop engine: members of different mechanisms, each its own model, data order
and optimizer state, every one exactly as if trained alone).

    python -m attnlab.cab.train --output run_dir R1 R2 ... --params JSON
    params: {"pattern": "ns"|"cs"|"nc"|"cc", "train": TrainSettings fields,
             "members": [{"mechanism", "seed_index", "seed", "model": config kwargs, "data", "run_dir"}]}

NS trains AttnEncoderForMaskedLM, CS the project's causal LM (AttnLMForCausalLM), NC and CC
AttnSeq2SeqForConditionalGeneration. Members of one seed share their seed (initialisation stream
and batch order), so mechanisms are compared on the same batches. Each run directory loads with
the transformers Auto class of its model (AutoModelForMaskedLM / CausalLM / Seq2SeqLM).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from attnlab import AttnlabError
from attnlab.cab import PATTERNS
from attnlab.cli import StepArgs, run_step
from attnlab.config import config_hash
from attnlab.io import atomic_dir, read_parquet
from attnlab.seeds import seed_everything
from attnlab.train.trainer import LOG, TrainingPreempted, TrainSettings


def build_model(pattern: str, model: dict, seed: int):
    """The pattern's model family, initialised from `seed`."""
    seed_everything(seed)
    if pattern == "cs":
        from attnlab.lm.configuration import AttnLMConfig
        from attnlab.lm.modeling import AttnLMForCausalLM

        return AttnLMForCausalLM(AttnLMConfig(**model))
    from attnlab.seq2seq.configuration import AttnSeq2SeqConfig
    from attnlab.seq2seq.modeling import AttnEncoderForMaskedLM, AttnSeq2SeqForConditionalGeneration

    cls = AttnEncoderForMaskedLM if pattern == "ns" else AttnSeq2SeqForConditionalGeneration
    return cls(AttnSeq2SeqConfig(**model))


def batch_source(pattern: str, df, batch_size: int, seed: int):
    if pattern == "cs":
        from attnlab.train.data import RandomBatches, SequenceData

        return RandomBatches(SequenceData(df), batch_size, seed)
    from attnlab.seq2seq.data import Seq2SeqBatches, Seq2SeqData

    return Seq2SeqBatches(Seq2SeqData(df), batch_size, seed)


def main(args: StepArgs) -> None:
    from attnlab.train.stack import train_stack

    p = args.params
    pattern, members = p["pattern"], p["members"]
    if pattern not in PATTERNS:
        raise AttnlabError(f"cab train: pattern {pattern!r} is not one of {PATTERNS}")
    cli_dirs = args.outputs.get("run_dir", [])
    if cli_dirs and cli_dirs != [m["run_dir"] for m in members]:
        raise AttnlabError("cab train: --output run_dir differs from params.members[].run_dir")
    settings = TrainSettings.from_dict(p["train"])
    models = [build_model(pattern, m["model"], m["seed"]) for m in members]
    frames = {path: read_parquet(path) for path in sorted({m["data"] for m in members})}
    batches = [batch_source(pattern, frames[m["data"]], settings.batch_size, m["seed"]) for m in members]
    run_dirs = [Path(m["run_dir"]) for m in members]
    works = [r / "checkpoints" for r in run_dirs]
    stats = {path: [Path(path).stat().st_size, Path(path).stat().st_mtime_ns] for path in frames}
    run_key = config_hash({"params": p, "data": stats})
    try:
        train_stack(models, batches, settings, works[0], engine="loop", log_dirs=works, run_key=run_key,
                    desc=f"cab {pattern} x{len(members)}")
    except TrainingPreempted as e:
        print(f"attnlab: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    for model, run_dir, work in zip(models, run_dirs, works):
        with atomic_dir(run_dir) as tmp:
            shutil.copy(work / LOG, tmp / LOG)
            model.save_pretrained(tmp)
    for work in works:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    run_step(main, description=__doc__)
