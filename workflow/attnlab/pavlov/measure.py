"""Measure one seed's capacities: random keys and values are drawn here (the synthesis), then
stored, retrieved and scored under each criterion, for every key dimension d_k. `capacity` is the
interpolated crossing of the criterion's bar (capacity.crossing_above); `largest_integer` the
largest integer N that meets it, kept for comparison."""

from __future__ import annotations

import time

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet
from attnlab.pavlov.capacity import CRITERIA, crossing_above, largest_integer


def measure(seed: int, d_ks: list[int], d_v: int, trials: int, min_pairs: int,
            n_max_factor: int) -> pd.DataFrame:
    rows = []
    for d_k in d_ks:
        for c in CRITERIA:
            t0 = time.perf_counter()
            n_max = n_max_factor * d_k
            n_int = largest_integer(c, seed, d_k, d_v, trials, min_pairs, n_max=n_max)
            n = crossing_above(c, n_int, seed, d_k, d_v, trials, min_pairs, n_max=n_max)
            rows.append({"d_k": d_k, "criterion": c, "capacity": n, "largest_integer": n_int,
                         "wall_s": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def main(args: StepArgs) -> None:
    p = args.params
    df = measure(p["seed"], p["d_ks"], p["d_v"], p["trials"], p["min_pairs"], p["n_max_factor"])
    df.insert(0, "seed_index", p["seed_index"])
    df.insert(1, "seed", p["seed"])
    write_parquet(args.output("capacity"), df)


if __name__ == "__main__":
    run_step(main, description=__doc__)
