"""One timing sweep (G2): forward CPU time of one Grassmann mixing layer and of one causal softmax
attention layer (the Transformer's, through torch's fused SDPA) against sequence length; B = 1,
one torch thread, process time, the median of `repeats` after a warm-up (attnlab.metrics.scaling).
Fresh random inputs and weights from this sweep's seed."""

from __future__ import annotations

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet

LAYERS = ("grassmann", "attention")


def make_call(layer: str, L: int, p: dict, gen):
    import torch

    from attnlab.attention import build_attention
    from attnlab.attention.base import AttentionContext
    from attnlab.lm.configuration import AttnLMConfig

    attention, options = ("grassmann", {"rank": p["rank"], "windows": p["windows"]}) if layer == "grassmann" \
        else ("softmax", {})
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    cfg = AttnLMConfig(vocab_size=16, n_embd=p["d_model"], n_head=p["heads"], n_layer=1, attention=attention,
                       attention_options=options)
    module = build_attention(cfg, 0).eval()
    x = torch.randn(1, L, p["d_model"], generator=gen)
    ctx = AttentionContext(position_ids=torch.arange(L)[None])
    return lambda: module(x, ctx)[0]


def main(args: StepArgs) -> None:
    import torch

    from attnlab.metrics.scaling import time_call

    p = args.params
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(p["seed"])
    rows = []
    for L in p["lengths"]:
        for layer in LAYERS:
            seconds = time_call(make_call(layer, L, p, gen), repeats=p["repeats"], warmup=1)
            rows.append({"seed_index": p["seed_index"], "layer": layer, "L": int(L), "seconds": seconds})
            print(f"{layer} L={L}: {seconds * 1e3:.2f} ms", flush=True)
    write_parquet(args.output("timing"), pd.DataFrame(rows))


if __name__ == "__main__":
    run_step(main, description=__doc__)
