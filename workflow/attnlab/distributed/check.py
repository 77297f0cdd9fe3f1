"""The mini checks D1-D3 of the distributed_attention spec; run under torchrun (gloo on the CPU):

    torchrun --standalone --nproc_per_node=P -m attnlab.distributed.check [--lengths 256 1024]
        [--seeds 0 1 2] [--heads 8] [--d-head 16]

Rank 0 prints one JSON object: per (method, causal, L, seed) the max abs error of the output and of
the input gradients against one-process dense attention (D1), the per-rank peak score elements and
bytes sent, counted and analytic (D2, D3), plus the causal ring's per-rank block counts and the
largest feasible L under the 64 MB score cap for P=1 and this P (D2). Wall times are noisy and
reported only.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.distributed as dist

from attnlab.distributed import analytic
from attnlab.distributed.comm import Counter
from attnlab.distributed.dense import dense_attention, dense_mha
from attnlab.distributed.head_parallel import head_parallel_mha
from attnlab.distributed.ring import ring_attention
from attnlab.distributed.ulysses import ulysses_attention

SEQUENCE_PARALLEL = {"ring": ring_attention, "ulysses": ulysses_attention}


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def check_sequence_parallel(method: str, L: int, H: int, d: int, causal: bool, seed: int,
                            device: str = "cpu") -> dict:
    """Ring or Ulysses on q, k, v against dense attention; errors over this rank's block."""
    rank, world = dist.get_rank(), dist.get_world_size()
    g = torch.Generator().manual_seed(seed)
    q, k, v, grad_out = (torch.randn(1, H, L, d, generator=g).to(device) for _ in range(4))  # same on every rank
    ref_in = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = dense_attention(*ref_in, causal)
    ref.backward(grad_out)
    block = slice(rank * L // world, (rank + 1) * L // world)
    mine = [t[:, :, block].clone().requires_grad_() for t in (q, k, v)]
    counter = Counter()
    t0 = time.perf_counter()
    out = SEQUENCE_PARALLEL[method](*mine, causal, counter)
    out.backward(grad_out[:, :, block])
    wall = time.perf_counter() - t0
    return {"forward_err": max_abs(out, ref[:, :, block]),
            "grad_err": max(max_abs(m.grad, r.grad[:, :, block]) for m, r in zip(mine, ref_in)),
            "counter": counter, "wall_s": wall}


def check_head_parallel(L: int, H: int, d: int, causal: bool, seed: int, device: str = "cpu") -> dict:
    """The whole layer x -> y with this rank's heads against the dense layer; gradient of x."""
    g = torch.Generator().manual_seed(seed)
    D = H * d
    x, grad_out = torch.randn(1, L, D, generator=g), torch.randn(1, L, D, generator=g)
    w_qkv, b_qkv = torch.randn(3 * D, D, generator=g) / D**0.5, torch.randn(3 * D, generator=g) * 0.1
    w_o, b_o = torch.randn(D, D, generator=g) / D**0.5, torch.randn(D, generator=g) * 0.1
    x, grad_out, w_qkv, b_qkv, w_o, b_o = (t.to(device) for t in (x, grad_out, w_qkv, b_qkv, w_o, b_o))
    x_ref, x_mine = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref = dense_mha(x_ref, w_qkv, b_qkv, w_o, b_o, H, causal)
    ref.backward(grad_out)
    counter = Counter()
    t0 = time.perf_counter()
    out = head_parallel_mha(x_mine, w_qkv, b_qkv, w_o, b_o, H, causal, counter)
    out.backward(grad_out)
    wall = time.perf_counter() - t0
    return {"forward_err": max_abs(out, ref), "grad_err": max_abs(x_mine.grad, x_ref.grad),
            "counter": counter, "wall_s": wall}


def run_checks(lengths, seeds, H: int, d: int, device: str = "cpu") -> list[dict]:
    """Every method x causal x L x seed; each row holds the worst rank's errors and every rank's counts.
    Inputs are drawn on the CPU from the seed and moved to `device` (a rank's GPU under NCCL)."""
    world = dist.get_world_size()
    rows = []
    for L in lengths:
        if L % world:
            raise ValueError(f"L={L} does not split over {world} processes")
        for causal in (False, True):
            for seed in seeds:
                for method in analytic.METHODS:
                    if method == "head_parallel":
                        r = check_head_parallel(L, H, d, causal, seed, device)
                    else:
                        r = check_sequence_parallel(method, L, H, d, causal, seed, device)
                    c = r["counter"]
                    mine = [r["forward_err"], r["grad_err"], c.peak_score_elements, c.bytes_sent, c.score_blocks,
                            r["wall_s"]]
                    every = [None] * world
                    dist.all_gather_object(every, mine)
                    rows.append({
                        "method": method, "causal": causal, "L": L, "seed": seed, "P": world, "H": H, "d_head": d,
                        "forward_err": max(e[0] for e in every), "grad_err": max(e[1] for e in every),
                        "peak_score_elements": [e[2] for e in every],
                        "peak_score_elements_analytic": analytic.score_elements(method, L, world, H),
                        "bytes_sent": [e[3] for e in every],
                        "bytes_sent_analytic": analytic.bytes_sent(method, L, world, H, d),
                        "score_blocks": [e[4] for e in every],
                        "wall_s": max(e[5] for e in every),
                    })
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--d-head", type=int, default=16)
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dist.init_process_group("gloo")
    try:
        rows = run_checks(args.lengths, args.seeds, args.heads, args.d_head)
        world = dist.get_world_size()
        report = {
            "P": world, "checks": rows,
            "max_feasible_length": {m: {"P=1": analytic.max_feasible_length(m, 1, args.heads),
                                        f"P={world}": analytic.max_feasible_length(m, world, args.heads)}
                                    for m in analytic.METHODS},
            "score_cap_bytes": analytic.SCORE_CAP_BYTES,
        }
        if dist.get_rank() == 0:
            print(json.dumps(report))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
