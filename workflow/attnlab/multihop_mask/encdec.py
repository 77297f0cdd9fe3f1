"""Train every seed of multihop_mask's encoder–decoder (attnlab.seq2seq, the Flan-T5 analogue) as
one stack, on the same two-hop files as the decoders.

    python -m attnlab.multihop_mask.encdec --input data D1 D2 ... --output run_dir R1 R2 ... --params JSON
    params: {"model": AttnSeq2SeqConfig kwargs, "train": TrainSettings fields, "members": [{"seed": int}, ...]}

A two-hop row "BOS docs Q e_x r1 r2 e_z EOS" becomes source "BOS docs Q e_x r1 r2" (encoder,
bidirectional) and target "e_z EOS" (decoder from BOS; only e_z is scored), so every model sees
the same questions. Each run directory loads with AutoModelForSeq2SeqLM after `import attnlab.models`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.config import config_hash
from attnlab.io import atomic_dir, read_parquet
from attnlab.seeds import seed_everything
from attnlab.train.trainer import LOG, TrainingPreempted, TrainSettings


def to_seq2seq(df: pd.DataFrame) -> pd.DataFrame:
    """Two-hop rows as (source, target): the answer and EOS become the decoder's target."""
    src = [np.asarray(s[:-2]) for s in df.input_ids]
    tgt = [np.asarray(s[-2:]) for s in df.input_ids]
    if not all(bool(m[-2]) and not m[:-2].any() for m in df.target_mask):
        raise AttnlabError("multihop_mask encdec: expected two-hop rows whose only target is the answer before EOS")
    out = df.drop(columns=["input_ids", "target_mask"]).copy()
    out["input_ids"], out["target_ids"] = src, tgt
    out["target_mask"] = [np.array([True, False]) for _ in tgt]
    return out


def build_model(model: dict, seed: int):
    from attnlab.seq2seq.configuration import AttnSeq2SeqConfig
    from attnlab.seq2seq.modeling import AttnSeq2SeqForConditionalGeneration

    seed_everything(seed)
    return AttnSeq2SeqForConditionalGeneration(AttnSeq2SeqConfig(**model))


def main(args: StepArgs) -> None:
    from attnlab.seq2seq.data import Seq2SeqBatches, Seq2SeqData
    from attnlab.train.stack import train_stack

    p = args.params
    members, data, run_dirs = p["members"], args.inputs.get("data", []), args.outputs.get("run_dir", [])
    if not (len(members) == len(data) == len(run_dirs)):
        raise AttnlabError(f"multihop_mask encdec: {len(members)} members, {len(data)} data files, "
                           f"{len(run_dirs)} run directories")
    settings = TrainSettings.from_dict(p["train"])
    models = [build_model(p["model"], int(m["seed"])) for m in members]
    batches = [Seq2SeqBatches(Seq2SeqData(to_seq2seq(read_parquet(d))), settings.batch_size, int(m["seed"]))
               for d, m in zip(data, members)]
    run_dirs = [Path(r) for r in run_dirs]
    works = [r / "checkpoints" for r in run_dirs]
    stats = [[Path(d).stat().st_size, Path(d).stat().st_mtime_ns] for d in data]
    run_key = config_hash({"params": p, "data": stats})
    try:
        train_stack(models, batches, settings, works[0], engine="loop", log_dirs=works, run_key=run_key,
                    desc=f"multihop encdec x{len(members)}")
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
    run_step(main, description=__doc__)
