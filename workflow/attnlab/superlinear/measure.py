"""S1's timing sweep: forward CPU time of the span-search op alone (the spec's gathered
implementation, attnlab.attention.superlinear; and our span-major arrangement of it, reported
beside it) and of dense SDPA on the same q, k, v, causal (the comparison) and without a mask (the
quadratic instrument: exactly L² work, where the causal flash kernel skips a share of key blocks that
changes with L; see attnlab.attention_costs.cost_model.causal_flash_fraction): B = 1, one head,
d_head, b = round(√L), top-k spans, queries in chunks; attnlab.metrics.scaling.time_call
(process time, one thread, median of `repeats` after a warm-up), fresh random inputs from this
sweep's seed. Also the analytic FLOP count of each op at each length."""

from __future__ import annotations

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet


def ops(L: int, d: int, top_k: int, chunk: int, gen):
    """{name: zero-argument call} at length L."""
    import torch
    import torch.nn.functional as F

    from attnlab.attention.superlinear import gathered_span_attention, span_length, span_major_attention

    q, k, v, u, kr = (torch.randn(1, 1, L, d, generator=gen) for _ in range(5))
    w_r = torch.randn(1, d, d, generator=gen) / d**0.5
    b = span_length(L, None)
    return {"superlinear": lambda: gathered_span_attention(q, k, v, u, kr, w_r, b, top_k, chunk),
            "superlinear_span_major": lambda: span_major_attention(q, k, v, u, kr, w_r, b, top_k, chunk),
            "dense_sdpa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
            "dense_sdpa_full": lambda: F.scaled_dot_product_attention(q, k, v)}


def main(args: StepArgs) -> None:
    import torch

    from attnlab.attention.superlinear import analytic_flops, span_length
    from attnlab.metrics.scaling import time_call

    p = args.params
    gen = torch.Generator().manual_seed(p["seed"])
    rows = []
    for L in p["lengths"]:
        for name, call in ops(L, p["d_head"], p["top_k"], p["chunk"], gen).items():
            seconds = time_call(call, repeats=p["repeats"], warmup=1)
            flops = (4.0 if name == "dense_sdpa_full" else 2.0) * L * L * p["d_head"] if name.startswith("dense") else \
                analytic_flops(L, p["d_head"], top_k=p["top_k"])
            rows.append({"seed_index": p["seed_index"], "op": name, "L": L, "span": span_length(L, None),
                         "seconds": seconds, "flops": flops})
            print(f"{name} L={L}: {seconds * 1e3:.2f} ms", flush=True)
    write_parquet(args.output("sweep"), pd.DataFrame(rows))


if __name__ == "__main__":
    run_step(main, description=__doc__)
