"""Write every seed's train and test files of the four CAB patterns (attnlab.tasks.cab).

    params: {"seeds": {seed_index: {"data": int, "chain": int}}, "n_train", "n_test", "markov": {...},
             "lengths": {...}, "n_masked": int}
Outputs: data (list, in the order pattern × split × seed of attnlab.cab.plan.data_paths)."""

from __future__ import annotations

from attnlab.cab import PATTERNS
from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.seeds import derive_seed
from attnlab.tasks import cab as tasks

SPLITS = ("train", "test")


def generate(pattern: str, split: str, n: int, seed: int, chain_seed: int, p: dict):
    s = derive_seed(seed, pattern, split)
    L, mk = p["lengths"], p["markov"]
    if pattern == "ns":
        return tasks.ns_masked(n, s, seq_len=L["ns"], n_masked=p["n_masked"], chain_seed=chain_seed, **mk)
    if pattern == "cs":
        return tasks.cs_lm(n, s, seq_len=L["cs"], chain_seed=chain_seed, **mk)
    if pattern == "nc":
        return tasks.nc_lookup(n, s, source_len=L["nc_source"], n_queries=L["nc_queries"])
    return tasks.cc_reversal(n, s, source_len=L["cc"])


def main(args: StepArgs) -> None:
    p = args.params
    outputs = args.outputs["data"]
    jobs = [(pat, split, int(i)) for pat in PATTERNS for split in SPLITS for i in sorted(p["seeds"], key=int)]
    if len(jobs) != len(outputs):
        raise ValueError(f"cab synth: {len(outputs)} outputs for {len(jobs)} files")
    for (pat, split, i), path in zip(jobs, outputs):
        seeds = p["seeds"][str(i)] if str(i) in p["seeds"] else p["seeds"][i]
        n = p["n_train"] if split == "train" else p["n_test"]
        write_parquet(path, generate(pat, split, n, seeds["data"], seeds["chain"], p))


if __name__ == "__main__":
    run_step(main, description=__doc__)
