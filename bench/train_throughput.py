"""Training throughput of our standard-attention LM against transformers' GPT2LMHeadModel (sdpa).

Same shape, same precision (fp32 on CPU; bf16 autocast with --bf16), one torch thread by default,
one full training step (forward, backward, AdamW) per iteration. Prints tokens/s, achieved FLOP/s,
the fraction of a measured matmul peak, and the ratio ours / GPT-2. Target: ours >= 1.2x.

    python bench/train_throughput.py                      # 4 layers, d=128, ctx 256, batch 32
    python bench/train_throughput.py --threads 2 --rounds 5

FLOPs per step: 6·N·tokens (N = parameters of every matmul, lm_head included) plus attention
12·n_layer·T·d per token (QKᵀ and AV, forward + backward, full square as in PaLM's MFU count).
Rounds alternate the two models so that load from other processes hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from attnlab.lm.convert import config_from_gpt2, state_dict_from_gpt2  # noqa: E402
from attnlab.lm.modeling import AttnLMForCausalLM  # noqa: E402


def matmul_peak(dtype: torch.dtype, seconds: float = 2.0, n: int = 1024) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def step_flops(model_cfg, batch: int, T: int, n_matmul: int) -> float:
    tokens = batch * T
    return 6 * n_matmul * tokens + 12 * model_cfg.n_layer * T * model_cfg.n_embd * tokens


def matmul_params(model: torch.nn.Module) -> int:
    seen, n = set(), 0
    for m in model.modules():
        w = getattr(m, "weight", None)
        if w is None or w.dim() != 2 or isinstance(m, (torch.nn.Embedding,)) or id(w) in seen:
            continue
        seen.add(id(w))
        n += w.numel()
    return n + model.config.vocab_size * model.config.n_embd  # tied lm_head: a matmul all the same


def time_steps(model, x, steps: int, bf16: bool) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def one():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--steps", type=int, default=5, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for both models")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    gcfg = GPT2Config(vocab_size=a.vocab, n_positions=a.ctx, n_embd=a.d, n_layer=a.layers, n_head=a.heads,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2,
                      pad_token_id=0, attn_implementation="sdpa")
    gpt2 = GPT2LMHeadModel(gcfg)
    ours = AttnLMForCausalLM(config_from_gpt2(gcfg))
    ours.load_state_dict(state_dict_from_gpt2(gpt2.state_dict()), strict=False)
    x = torch.randint(0, a.vocab, (a.batch, a.ctx))

    dtype = torch.bfloat16 if a.bf16 else torch.float32
    peak = matmul_peak(dtype) * 1  # per process, at a.threads threads
    flops = step_flops(gcfg, a.batch, a.ctx, matmul_params(ours))
    times = {"gpt2": [], "ours": []}
    for r in range(a.rounds):
        for name, model in (("gpt2", gpt2), ("ours", ours)) if r % 2 == 0 else (("ours", ours), ("gpt2", gpt2)):
            times[name].append(time_steps(model, x, a.steps, a.bf16))
    prec = "bf16 autocast" if a.bf16 else "fp32"
    print(f"shape: {a.layers} layers, d={a.d}, {a.heads} heads, ctx {a.ctx}, batch {a.batch}, vocab {a.vocab}; "
          f"{prec}; {a.threads} thread(s); {flops / 1e9:.1f} GFLOP per step")
    print(f"measured matmul peak ({prec}, {a.threads} thread(s)): {peak / 1e9:.1f} GFLOP/s")
    res = {}
    for name in ("gpt2", "ours"):
        t = statistics.median(times[name])
        res[name] = t
        print(f"{name:>5}: {t * 1e3:8.1f} ms/step  {a.batch * a.ctx / t:9.0f} tokens/s  "
              f"{flops / t / 1e9:6.1f} GFLOP/s  {flops / t / peak:5.1%} of peak  "
              f"(rounds: {', '.join(f'{x * 1e3:.0f}' for x in times[name])} ms)")
    ratio = res["gpt2"] / res["ours"]
    print(f"ratio ours / GPT2LMHeadModel (tokens/s): {ratio:.2f}x  (target >= 1.2x: {'met' if ratio >= 1.2 else 'NOT met'})")


if __name__ == "__main__":
    main()
