"""The VLM-world data of one seed (attnlab.vlm.data, vlm_design §3): train / dev / test Parquet
files and the co-occurrence prior (JSON) they were drawn with.

    python -m attnlab.vlm.synth --output train T.parquet --output dev D.parquet \
        --output test X.parquet --output prior P.json --params '{"seed": 1, "prior_seed": 7, ...}'

Params: seed (the data seed), prior_seed (the companion map's seed: one map for every seed of a
run), prior_strength, n ({train, dev, test}: rows per training stage T/A/S; the evaluation unit of
dev and test), causal_fraction, max_subjects, and optionally size (render side, default 32),
patch (patch side, default 4) and s_mix (stage S's {caption, existence, vqa} shares; default the design's).
"""

from __future__ import annotations

import time

from attnlab import AttnlabError
from attnlab.cli import StepArgs, run_step
from attnlab.io import write_json, write_parquet
from attnlab.vlm.data import SPLITS, make_prior, synthesize

REQUIRED = ("seed", "prior_seed", "prior_strength", "n", "causal_fraction", "max_subjects")


def synthesize_splits(params: dict):
    """(frames per split, prior) from the step's params (REQUIRED keys; size, patch optional)."""
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise AttnlabError(f"vlm synth params: missing {', '.join(missing)}")
    n = params["n"]
    if not isinstance(n, dict) or sorted(n) != sorted(SPLITS):
        raise AttnlabError(f"vlm synth params: n must map each of {', '.join(SPLITS)} to a count, got {n!r}")
    prior = make_prior(int(params["prior_seed"]), float(params["prior_strength"]))
    frames = synthesize(int(params["seed"]), prior, n_train=int(n["train"]), n_dev=int(n["dev"]),
                        n_test=int(n["test"]), causal_fraction=float(params["causal_fraction"]),
                        max_subjects=int(params["max_subjects"]), size=int(params.get("size", 32)),
                        patch=int(params.get("patch", 4)), s_mix=params.get("s_mix"))
    return frames, prior


def main(args: StepArgs) -> None:
    t0, c0 = time.time(), time.process_time()
    frames, prior = synthesize_splits(args.params)
    for split in SPLITS:
        write_parquet(args.output(split), frames[split])
    write_json(args.output("prior"), prior.to_dict())
    rows = sum(len(f) for f in frames.values())
    cpu = time.process_time() - c0
    print(f"{rows} examples ({', '.join(f'{s} {len(frames[s])}' for s in SPLITS)}) in {time.time() - t0:.1f} s "
          f"wall, {cpu:.1f} s CPU ({rows / max(cpu, 1e-9):.0f} examples per CPU-second)")


if __name__ == "__main__":
    run_step(main, description=__doc__)
