"""The distributed_attention experiment's claim arithmetic on hand-made check rows, and how a
multi-process step is launched (torchrun here, srun + torchrun under the SLURM profile)."""

import pandas as pd
import pytest

from attnlab.claims import FAIL, INCONCLUSIVE, NOT_RUN, PASS
from attnlab.distributed import analytic
from attnlab.distributed_attention.evaluate import check_claims
from attnlab.experiment import launch_prefix


def _rows(P, seed, err=1e-7, bytes_off=0.0, peak_off=0):
    rows = []
    for method in analytic.METHODS:
        for causal in (False, True):
            ana_b = analytic.bytes_sent(method, 64, P, 8, 16)
            peak = analytic.score_elements(method, 64, P, 8)
            rows.append({"method": method, "causal": causal, "L": 64, "seed": seed, "P": P, "H": 8, "d_head": 16,
                         "forward_err": err, "grad_err": err, "peak_score_elements": [peak + peak_off] * P,
                         "peak_score_elements_analytic": peak,
                         "bytes_sent": [0 if ana_b is None else ana_b * (1 + bytes_off)] * P,
                         "bytes_sent_analytic": ana_b, "score_blocks": [P] * P, "wall_s": 0.1,
                         "max_L_P1": analytic.max_feasible_length(method, 1, 8),
                         "max_L_P": analytic.max_feasible_length(method, P, 8)})
    return rows


def _verdicts(frame, seeds=(11, 12)):
    rows = check_claims(pd.DataFrame(frame), seeds=list(seeds), scale="test", tol=1e-5, rel_bytes=0.01,
                        growth_per_process=0.875)
    return [r["verdict"] for r in rows]


def test_exact_counted_runs_pass_their_checks_and_the_paper_claims_are_not_run():
    good = _rows(2, 11) + _rows(2, 12) + _rows(4, 11) + _rows(4, 12)
    assert _verdicts(good) == [PASS, PASS, PASS, NOT_RUN, NOT_RUN, NOT_RUN]


def test_each_check_fails_on_its_own_fault():
    assert _verdicts(_rows(2, 11, err=1e-4) + _rows(2, 12, err=1e-4))[:3] == [FAIL, PASS, PASS]
    assert _verdicts(_rows(2, 11, peak_off=1) + _rows(2, 12, peak_off=1))[:3] == [PASS, FAIL, PASS]
    assert _verdicts(_rows(2, 11, bytes_off=0.02) + _rows(2, 12, bytes_off=0.02))[:3] == [PASS, PASS, FAIL]
    # one input seed wrong, the other right: the seeds disagree
    assert _verdicts(_rows(2, 11, err=1e-4) + _rows(2, 12))[0] == INCONCLUSIVE


def test_ring_length_growth_is_judged_at_the_largest_p():
    from attnlab.distributed_attention.evaluate import length_growth

    frame = pd.DataFrame(_rows(2, 11) + _rows(4, 11))
    assert length_growth(frame) == (4, 4.0)  # ring: L_max ∝ P under a fixed per-rank score cap
    # head-parallel and Ulysses split heads only: L_max grows like √P
    assert analytic.max_feasible_length("head_parallel", 4, 8) == 2 * analytic.max_feasible_length("head_parallel", 1, 8)


def test_launch_prefix():
    assert launch_prefix(1) == "python -m"
    assert launch_prefix(4) == "python -m torch.distributed.run --standalone --nnodes=1 --nproc_per_node=4 -m"
    slurm = launch_prefix(8, nodes=2, launcher="slurm")
    assert slurm.startswith("srun --ntasks-per-node=1 --nodes=2 python -m torch.distributed.run --nnodes=2 "
                            "--nproc_per_node=4") and "--rdzv_backend=c10d" in slurm and slurm.endswith(" -m")
    with pytest.raises(ValueError, match="do not split"):
        launch_prefix(3, nodes=2, launcher="slurm")
    with pytest.raises(ValueError, match="needs `launcher: slurm`"):
        launch_prefix(4, nodes=2)
    with pytest.raises(ValueError, match="not one of"):
        launch_prefix(2, launcher="mpi")
