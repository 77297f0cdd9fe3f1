"""Greedy answers of one trained base VLM on the test split (a step; attnlab.vlm.predict).

    python -m attnlab.vlm.predict_step --input model RUN/config.json --input data TEST.parquet \
        --output predictions P.parquet --params '{"batch_size": 64, "per_task": null, "seed": 1}'

The run directory loads through `AutoModelForImageTextToText.from_pretrained` and answers through
`generate()`, as any user would load it. `per_task` caps the rows per task (existence: per POPE
split), drawn by `seed`; null keeps every test row. Output columns: id, task, question,
pope_split, prior_violating, answer, prediction, plus wall_s (this step's seconds, on every row).
"""

from __future__ import annotations

import time

import torch

from attnlab.cli import StepArgs, run_step
from attnlab.io import read_parquet, write_parquet
from attnlab.vlm.predict import load_run, predict, subsample
from attnlab.vlm.train import run_dir_of

KEEP = ["id", "task", "question", "pope_split", "prior_violating", "answer"]


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    torch.set_num_threads(int(p.get("threads", 1)))
    model, processor = load_run(run_dir_of(args.input("model")))
    frame = subsample(read_parquet(args.input("data")), p.get("per_task"), int(p["seed"]))
    out = frame[KEEP].reset_index(drop=True)
    out["prediction"] = predict(model, processor, frame, batch_size=int(p["batch_size"]))
    out["wall_s"] = time.perf_counter() - t0
    write_parquet(args.output("predictions"), out)


if __name__ == "__main__":
    run_step(main, description=__doc__)
