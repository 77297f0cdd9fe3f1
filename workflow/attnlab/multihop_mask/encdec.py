"""Train every seed of multihop_mask's encoder–decoder (attnlab.seq2seq, the Flan-T5 analogue) as
one stack, on the same two-hop files as the decoders.

    python -m attnlab.multihop_mask.encdec --input data D1 D2 ... --output run_dir R1 R2 ... --params JSON
    params: {"model": AttnSeq2SeqConfig kwargs, "train": TrainSettings fields, "members": [{"seed": int}, ...]}

A two-hop row "BOS docs Q e_x r1 r2 e_z [more questions] EOS" becomes one example per question:
source "BOS docs Q e_x r1 r2" (encoder, bidirectional) and target "e_z EOS" (decoder from BOS; only
e_z is scored), so every model sees the same questions; a step draws batch_size rows' worth of
questions (batch_size x questions per row examples). Each run directory loads with AutoModelForSeq2SeqLM after `import attnlab.models`.
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

DOCS_END = 25  # BOS and 6 documents of 4 tokens
QUESTION = 5  # "Q e r r" and the answer


def to_seq2seq(df: pd.DataFrame) -> pd.DataFrame:
    """Two-hop rows as (source, target) examples, one per question: source = BOS, documents and the
    question; target = the answer and EOS (only the answer scored). Other columns are copied."""
    rows = []
    keep = df.drop(columns=["input_ids", "target_mask"])
    for i, ids in enumerate(df.input_ids):
        ids = np.asarray(ids)
        n_q = (len(ids) - DOCS_END - 1) // QUESTION
        if len(ids) != DOCS_END + QUESTION * n_q + 1 or n_q < 1:
            raise AttnlabError(f"multihop_mask encdec: row {i} is not a two-hop row (length {len(ids)})")
        for q in range(n_q):
            a = DOCS_END + QUESTION * q
            rows.append({**keep.iloc[i].to_dict(), "question": q,
                         "input_ids": np.concatenate([ids[:DOCS_END], ids[a:a + 4]]),
                         "target_ids": np.array([ids[a + 4], ids[-1]]), "target_mask": np.array([True, False])})
    return pd.DataFrame(rows)


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
    # the decoders see every question of a row in one sequence: the encoder–decoder gets as many
    # questions per step (batch_size x questions per row)
    frames = [read_parquet(d) for d in data]
    per_row = [len(to_seq2seq(f.head(1))) for f in frames]
    batches = [Seq2SeqBatches(Seq2SeqData(to_seq2seq(f)), settings.batch_size * k, int(m["seed"]))
               for f, k, m in zip(frames, per_row, members)]
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
