"""One timing sweep of every mechanism's attention layer (attnlab.attention) over sequence lengths:
forward CPU time (attnlab.metrics.scaling.time_call: process time, one thread, median of repeats)
and the bytes autograd saves for backward, with fresh random inputs drawn from this sweep's seed.
The instruments (attention_costs.theory.INSTRUMENTS): torch's fused SDPA on the same q, k, v
shape without a mask (exactly L² work: the quadratic reference) and causal, and one softmax over
an explicit (heads, L, L) pattern (the memory-bound pass explicit-pattern mechanisms make), and one
gather of the spans superlinear attention keeps (its memory-bound pass)."""

from __future__ import annotations

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet


def layer(mechanism: str, options: dict, d_model: int, heads: int):
    from attnlab.attention import build_attention
    from attnlab.lm.configuration import AttnLMConfig

    cfg = AttnLMConfig(vocab_size=16, n_embd=d_model, n_head=heads, n_layer=1, attention=mechanism,
                       attention_options=options)
    return build_attention(cfg, 0)


def call_for(mechanism: str, options: dict, L: int, d_model: int, heads: int, gen, grad: bool = False):
    """(a zero-argument call running one forward of the mechanism's layer at length L, its parameters)."""
    import torch
    import torch.nn.functional as F

    from attnlab.attention.base import AttentionContext

    if mechanism in ("dense_sdpa", "dense_sdpa_causal"):  # the instruments: the fused kernel alone
        q, k, v = (torch.randn(1, heads, L, d_model // heads, generator=gen, requires_grad=grad) for _ in range(3))
        causal = mechanism == "dense_sdpa_causal"
        return (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal).sum()), []
    if mechanism == "explicit_pass":  # one memory-bound pass over an explicit T x T pattern
        s = torch.randn(1, heads, L, L, generator=gen, requires_grad=grad)
        return (lambda: torch.softmax(s, -1).sum()), []
    if mechanism == "gather_pass":  # superlinear's gather: 2 spans of b keys per query, copied by index
        b = max(1, round(L**0.5))
        n = -(-L // b)
        kf = torch.randn(heads, n, b * (d_model // heads), generator=gen, requires_grad=grad)
        idx = torch.randint(0, n, (heads, 2 * L), generator=gen)
        return (lambda: torch.stack([kf[h].index_select(0, idx[h]) for h in range(heads)]).sum()), []
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    attn = layer(mechanism, options, d_model, heads)
    x = torch.randn(1, L, d_model, generator=gen, requires_grad=grad)
    ids = torch.randint(0, 15, (1, L), generator=gen)
    if "meta_token_id" in options:
        ids[:, ::8] = options["meta_token_id"]
    ctx = attn.prepare(AttentionContext(position_ids=torch.arange(L)[None]), ids)
    return (lambda: attn(x, ctx)[0].sum()), list(attn.parameters())


def main(args: StepArgs) -> None:
    import torch

    from attnlab.metrics.scaling import saved_activation_bytes, time_call

    p = args.params
    gen = torch.Generator().manual_seed(p["seed"])
    rows = []
    for name, spec in p["mechanisms"].items():
        for L in p["lengths"]:
            call, _ = call_for(spec["attention"], spec["options"], L, p["d_model"], p["heads"], gen)
            seconds = time_call(call, repeats=p["repeats"], warmup=1)
            call, params = call_for(spec["attention"], spec["options"], L, p["d_model"], p["heads"], gen, grad=True)
            saved = saved_activation_bytes(call, exclude=params)  # activations only, not the weights
            rows.append({"seed_index": p["seed_index"], "mechanism": name, "L": L, "seconds": seconds,
                         "saved_bytes": saved})
            print(f"{name} L={L}: {seconds * 1e3:.2f} ms, {saved / 2**20:.1f} MiB saved", flush=True)
    write_parquet(args.output("sweep"), pd.DataFrame(rows))


if __name__ == "__main__":
    run_step(main, description=__doc__)
