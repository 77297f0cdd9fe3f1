"""Distributed attention (spec: shared/papers/distributed_attention.md): the online-softmax merge
and the analytic formulas on hand-made inputs, then head-parallel, ring and Ulysses under torchrun
with 2 and 4 gloo processes against dense attention (D1), with counted score buffers (D2) and bytes
sent (D3) equal to the formulas."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnlab.distributed import analytic
from attnlab.distributed.dense import dense_attention
from attnlab.distributed.ring import block_stats, causal_blocks, merge

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5  # D1: max abs error in fp32


def test_online_softmax_merge_of_key_blocks_equals_softmax_over_all_keys():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    k[..., :2, :] *= 30  # scores of very different size in the two blocks: the rescaling matters
    state = block_stats(q, k[..., :2, :], v[..., :2, :], None)
    for lo, hi in ((2, 3), (3, 5)):
        state = merge(state, block_stats(q, k[..., lo:hi, :], v[..., lo:hi, :], None))
    m, l, o = state
    torch.testing.assert_close(o / l, dense_attention(q, k, v, causal=False), atol=1e-6, rtol=0)


def test_merge_on_hand_made_blocks():
    # one query, block A: scores [0, 0] values [1, 3]; block B: score [ln 2] value [6]
    # softmax weights 1/4, 1/4, 2/4 -> output 1/4 + 3/4 + 12/4 = 4
    a = (torch.tensor([[0.0]]), torch.tensor([[2.0]]), torch.tensor([[4.0]]))
    b = (torch.tensor([[0.6931471805599453]]), torch.tensor([[1.0]]), torch.tensor([[6.0]]))
    m, l, o = merge(a, b)
    assert (o / l).item() == pytest.approx(4.0)
    assert m.item() == pytest.approx(0.6931471805599453)


def test_analytic_formulas():
    # ring, L=256, P=4, H=8, d=16: 3 steps x (K and V) x 64 tokens x 8 heads x 16 x 4 bytes
    assert analytic.bytes_sent("ring", 256, 4, 8, 16) == 3 * 2 * 64 * 8 * 16 * 4
    assert analytic.bytes_sent("ulysses", 256, 4, 8, 16) == 4 * 3 * 64 * 8 * 16 * 4 // 4
    assert analytic.score_elements("ring", 256, 4, 8) == 8 * 64 * 64
    assert analytic.score_elements("ulysses", 256, 4, 8) == 2 * 256 * 256
    # 64 MB of fp32 scores for 8 heads: L² ≤ 2^21 -> L = 1448 on one process
    assert analytic.max_feasible_length("ring", 1, 8) == 1448
    assert analytic.max_feasible_length("ring", 4, 8) == 4 * 1448
    assert causal_blocks(4) == [1, 2, 3, 4]


def run_check(P: int, lengths, seeds) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(P),
           "-m", "attnlab.distributed.check", "--lengths", *map(str, lengths), "--seeds", *map(str, seeds)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow"), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("P, lengths", [(2, [64, 256]), (4, [128, 256])])
def test_distributed_attention_equals_dense_with_the_analytic_memory_and_traffic(P, lengths):
    report = run_check(P, lengths, seeds=[0, 1, 2])
    rows = report["checks"]
    assert len(rows) == len(lengths) * 2 * 3 * len(analytic.METHODS)
    for r in rows:
        where = f"{r['method']} causal={r['causal']} L={r['L']} seed={r['seed']}"
        assert r["P"] == P
        assert r["forward_err"] <= TOL and r["grad_err"] <= TOL, where  # D1
        assert r["peak_score_elements"] == [r["peak_score_elements_analytic"]] * P, where  # D2
        if r["bytes_sent_analytic"] is not None:  # D3, within 1%
            for sent in r["bytes_sent"]:
                assert abs(sent - r["bytes_sent_analytic"]) <= 0.01 * r["bytes_sent_analytic"], where
        if r["method"] == "ring":
            assert r["score_blocks"] == (causal_blocks(P) if r["causal"] else [P] * P), where
    ring = report["max_feasible_length"]["ring"]
    assert ring[f"P={P}"] / ring["P=1"] >= (3.5 if P == 4 else 1.75)  # D2: ≥ 3.5x from P=1 to P=4
