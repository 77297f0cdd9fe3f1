"""Training throughput at each LM experiment's mini shapes, against the machine's fp32 matmul peak.

For every LM experiment of config/config.yaml (its trained model, batch size and training length;
the variant named below) one full training step — forward, backward, per-member gradient
clipping, AdamW — is timed for
  solo        one member trained alone, as `python -m attnlab.train.lm` does today (one process each)
  gpt2        transformers' GPT2LMHeadModel (sdpa, fp32) at the same shape, a plain loop
  stack-loop  all seeds of the configuration in one process (attnlab.train.stack, engine "loop")
  stack-vmap  the same with engine "vmap" (stacked weights, functional_call under vmap)
and, with --wide, stack-vmap with 2x the seeds; with --bf16, stack-loop under bf16 autocast.
Printed per row: ms per step (the whole stack), tokens/s per member (the tokens a member trains per
step over the share of the step time it costs: members·B·T / step time), achieved GFLOP/s (all members
together), the fraction of the fp32 matmul peak measured at the start of this run (one thread,
1024^3), and "job tok/s": tokens/s per member over a whole training job of the experiment's
`train.steps`, counting the process start (imports; measured once here) once per process — once per
member for solo and gpt2, once per stack for the stacks.

    python bench/train_throughput.py                    # ~2-3 minutes, one thread
    python bench/train_throughput.py --only moh --rounds 3 --wide --bf16

FLOPs per step and member: 6·N·tokens (N = weights of every matmul: attention, MLP, gates,
lm_head) plus 12·T·d per token for each attention's QKᵀ and AV (forward + backward, full square
as in PaLM's MFU count; meta-attention counts twice). Rounds alternate the rows so that load from
other processes hits all alike; the best round is reported (the least disturbed).

Targets (issue 11; on an otherwise idle 2-core machine): per member at the moh and meta_tokens
shapes >= 2.5x the tokens/s of GPT2LMHeadModel; aggregate >= 60% of the fp32 peak at moh.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from attnlab.attention.base import Attention  # noqa: E402
from attnlab.tasks.vocab import META  # noqa: E402
from attnlab.train.lm import build_model  # noqa: E402
from attnlab.train.stack import ENGINES  # noqa: E402
from attnlab.train.trainer import TrainSettings, make_optimizer  # noqa: E402


def shapes(cfg: dict, base_seed: int) -> dict[str, dict]:
    """{experiment: {params (as the training step gets them), T, seeds, steps}} for the LM experiments."""
    from attnlab.attention_sinks import plan as sinks
    from attnlab.dynamic_mask import plan as dma
    from attnlab.meta_tokens import plan as meta
    from attnlab.moh import plan as moh
    from attnlab.retrieval_heads import plan as retrieval

    e = cfg["experiments"]
    mt = e["meta_tokens"]
    out = {
        "moh": (moh.train_params(e["moh"], base_seed, e["moh"]["tasks"][0],
                                 moh.variant_id(e["moh"]["claim_fraction"]), 0),
                e["moh"]["task_params"][e["moh"]["tasks"][0]]["seq_len"], e["moh"]),
        "dynamic_mask": (dma.train_params(e["dynamic_mask"], base_seed, "dma", 0), e["dynamic_mask"]["train_len"],
                         e["dynamic_mask"]),
        # meta-tokens lengthen a sequence by the meta rate on average
        "meta_tokens": (meta.train_params(mt, base_seed, mt["tasks"][0], "meta", 0),
                        round(mt["train_len"] * (1 + mt["meta_rate"])), mt),
        "retrieval_heads": (retrieval.train_params(e["retrieval_heads"], base_seed, 0),
                            max(e["retrieval_heads"]["train_lengths"]), e["retrieval_heads"]),
        "attention_sinks": (sinks.train_params(e["attention_sinks"], base_seed, "softmax", 0),
                            e["attention_sinks"]["trigger"]["seq_len"], e["attention_sinks"]),
    }
    return {k: {"params": p, "T": T, "seeds": c["seeds"], "steps": c["train"]["steps"]}
            for k, (p, T, c) in out.items() if c.get("enabled", True)}


def matmul_peak(dtype: torch.dtype = torch.float32, seconds: float = 1.5, n: int = 1024) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def matmul_weights(model: torch.nn.Module) -> int:
    """Weights of every matmul: Linear weights (a tied lm_head too: it is a matmul all the same) and
    GPT-2's Conv1D (a Linear with transposed weights)."""
    return sum(m.weight.numel() for m in model.modules()
               if isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D")


def step_flops(model: torch.nn.Module, B: int, T: int) -> float:
    d = model.config.n_embd
    attentions = sum(isinstance(m, Attention) for m in model.modules()) or model.config.n_layer
    tokens = B * T
    return 6 * matmul_weights(model) * tokens + 12 * attentions * T * d * tokens


def batch_for(seed: int, B: int, T: int, vocab: int, meta_rate: float) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(8, vocab, (B, T), generator=g)
    if meta_rate:
        ids[torch.rand(B, T, generator=g) < meta_rate] = META
    ids[:, 0] = 1
    return {"input_ids": ids, "labels": ids.masked_fill(ids == META, -100)}


class Runner:
    """One training configuration, ready to time `step()`."""

    def __init__(self, kind: str, shape: dict, members: int, precision: str = "fp32"):
        p, T = shape["params"], shape["T"]
        s = TrainSettings.from_dict({**p["train"], "precision": precision})
        self.B, self.T, self.members = s.batch_size, T, members
        rate = p.get("meta_token_rate", 0.0)
        self.batches = [batch_for(i, s.batch_size, T, p["model"]["vocab_size"], rate) for i in range(members)]
        model_params = {**p["model"], "n_positions": max(T, p["model"]["n_positions"])}
        autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
        if kind == "gpt2":
            m = p["model"]
            cfg = GPT2Config(vocab_size=m["vocab_size"], n_positions=model_params["n_positions"], n_embd=m["n_embd"],
                             n_layer=m["n_layer"], n_head=m["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                             attn_pdrop=0.0, bos_token_id=1, eos_token_id=7, pad_token_id=0,
                             attn_implementation="sdpa")
            torch.manual_seed(0)
            self.model = GPT2LMHeadModel(cfg)
            opt = make_optimizer(self.model, s)

            def step():
                self.model(**self.batches[0]).loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
        else:
            models = [build_model(model_params, seed) for seed in range(members)]
            self.model = models[0]
            eng = ENGINES["loop" if kind == "solo" else kind.split("-")[1]](models, s, torch.device("cpu"), autocast)
            eng.train()

            def step():
                eng.losses_backward(self.batches)
                eng.clip(s.grad_clip)
                eng.opt.step()
                eng.opt.zero_grad(set_to_none=True)
        self.step = step
        self.flops = step_flops(self.model, self.B, T) * members
        self.model.train()

    def time(self, steps: int) -> float:
        self.step()  # warm-up
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - t0) / steps


def process_start_seconds() -> float:
    """Wall time of a fresh process importing the training step (what each job pays before step 1)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import attnlab.train.lm, attnlab.models"], check=True,
                   env={"PYTHONPATH": str(ROOT / "workflow"), "OMP_NUM_THREADS": "1", "PATH": ""})
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    p.add_argument("--only", nargs="*", help="experiments to time (default: every LM experiment)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--wide", action="store_true", help="also a vmap stack of 2x the seeds")
    p.add_argument("--bf16", action="store_true", help="also the loop stack under bf16 autocast")
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = yaml.safe_load(Path(a.config).read_text())
    exps = shapes(cfg, cfg["base_seed"])
    if a.only:
        exps = {k: v for k, v in exps.items() if k in a.only}

    peak = matmul_peak()
    start = process_start_seconds()
    print(f"fp32 matmul peak (1 thread, 1024^3): {peak / 1e9:.1f} GFLOP/s; process start (imports): {start:.1f} s")
    summary = {}
    for name, shape in exps.items():
        M = shape["seeds"]
        rows = [("solo", 1, "fp32"), ("gpt2", 1, "fp32"), ("stack-loop", M, "fp32"), ("stack-vmap", M, "fp32")]
        if a.wide:
            rows.append(("stack-vmap", 2 * M, "fp32"))
        if a.bf16:
            rows.append(("stack-loop", M, "bf16"))
        runners = {r: Runner(r[0], shape, r[1], r[2]) for r in rows}
        times = {r: [] for r in rows}
        for rnd in range(a.rounds):
            for r in rows if rnd % 2 == 0 else rows[::-1]:
                times[r].append(runners[r].time(a.steps))
        m = shape["params"]["model"]
        print(f"\n## {name}: {m['attention']}, {m['n_layer']} layers, d={m['n_embd']}, {m['n_head']} heads, "
              f"batch {runners[rows[0]].B} x T {shape['T']}, vocab {m['vocab_size']}, {M} seeds, "
              f"{shape['steps']} steps")
        print("| run | members | precision | ms/step | tokens/s per member | GFLOP/s | of fp32 peak | job tok/s per member |")
        print("|---|---|---|---|---|---|---|---|")
        res = {}
        for r in rows:
            run = runners[r]
            t = min(times[r])
            # per member: the B·T tokens a member trains per step over the step time it costs (the
            # stack's step time shared by its members); members of a stack share one process start
            tps = run.members * run.B * run.T / t
            per_process = 1 if r[0] in ("solo", "gpt2") else r[1]
            job = shape["steps"] * run.B * run.T / (shape["steps"] * t / run.members + start / per_process)
            res[r] = (tps, run.flops / t, job)
            print(f"| {r[0]} | {r[1]} | {r[2]} | {t * 1e3:.0f} | {tps:,.0f} | {run.flops / t / 1e9:.1f} | "
                  f"{run.flops / t / peak:.0%} | {job:,.0f} |")
        gpt2 = res[("gpt2", 1, "fp32")][0]
        best = max((r for r in rows if r[0].startswith("stack")), key=lambda r: res[r][0])
        summary[name] = (best, res[best][0] / gpt2, res[best][1] / peak, res[("solo", 1, "fp32")][0] / gpt2)
    print("\n## against the targets")
    for name, (best, ratio, frac, solo_ratio) in summary.items():
        line = (f"{name}: best stack {best[0]} x{best[1]} {best[2]}: {ratio:.2f}x GPT2LMHeadModel tokens/s per member "
                f"(solo: {solo_ratio:.2f}x), {frac:.0%} of the fp32 peak")
        if name in ("moh", "meta_tokens"):
            line += f"; target >= 2.5x: {'met' if ratio >= 2.5 else 'NOT met'}"
        if name == "moh":
            line += f"; target >= 60% of peak: {'met' if frac >= 0.6 else 'NOT met'}"
        print(line)


if __name__ == "__main__":
    main()
