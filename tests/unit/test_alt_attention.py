"""alt_attention: the toy data on hand-made settings, the plan, and the five claim checks on
hand-made metrics."""

import numpy as np
import pandas as pd
import pytest

from attnlab.alt_attention import evaluate, plan
from attnlab.alt_attention.data import grid, nonstationary
from attnlab.claims import FAIL, INCONCLUSIVE, PASS


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["alt_attention"]


def test_nonstationary_bursts_sit_in_the_class_group():
    X, y = nonstationary(200, 0, stationary=True, T=32, F=8, groups=4, burst=100.0)
    # a burst of 100 dwarfs the noise: the 8 steps x 2 features of the class group
    big = np.abs(X) > 50
    assert big.sum(axis=(1, 2)).tolist() == [16] * 200
    groups = big.any(1).reshape(200, 4, 2).any(-1).argmax(-1)
    assert np.array_equal(groups, y)
    Xn, _ = nonstationary(200, 0, stationary=False, T=32, F=8)
    assert Xn.mean(1).std() > 1.0 > X.mean(1).std() / 100 + 0.5  # per-sample offsets only non-stationary


def test_grid_targets_are_the_cell_below():
    cells, target = grid(3, 0, height=3, width=2, symbols=5)
    g = cells.reshape(3, 3, 2)
    t = target.reshape(3, 3, 2)
    assert np.array_equal(t[:, :-1], g[:, 1:]) and np.all(t[:, -1] == 5)


def test_plan_variants(cfg):
    assert plan.train_params(cfg, 1234, "rmha", 0)["model"]["position_encoding"] == "none"
    assert plan.train_params(cfg, 1234, "mdha", 0)["model"]["attention_options"] == {"conv": True, "relative": False}
    assert len(plan.manifest(cfg, 1234)) == 4 * cfg["seeds"]


TH = {"ga1_nonstationary": 5.0, "ga1_stationary": 3.0, "rc1": 0.5, "rc2": 0.95, "ln1": 10.0, "ln2": 3.0}
BARS = {"attention_pool_stationary_acc": 0.6, "mha_gap_closed": 0.5, "softmax_grid_acc": 0.8}


def metrics(gaam_n=0.8, att_n=0.6, gaam_s=0.9, att_s=0.9, rcmha=0.41, mha=0.40, mem=(90, 100),
            ln=(0.5, 0.3, 0.52, 0.95), mha_closed=0.6, seeds=(0, 1, 2)):
    rows = []
    for s in seeds:
        rows += [{"block": "gaam", "variant": v, "split": sp, "seed_index": s, "acc": a}
                 for v, sp, a in (("gaam", "nonstationary", gaam_n), ("attention", "nonstationary", att_n),
                                  ("gaam", "stationary", gaam_s), ("attention", "stationary", att_s))]
        rows += [{"block": "rcmha", "variant": v, "split": "markov", "seed_index": s, "acc": a, "saved_bytes": b,
                  "gap_closed": mha_closed}
                 for v, a, b in (("mha", mha, 80), ("rcmha", rcmha, mem[0]), ("rmha", 0.4, mem[1]))]
        rows += [{"block": "lightnet", "variant": v, "split": "grid", "seed_index": s, "acc": a}
                 for v, a in zip(("lightnet1", "decay1", "decay4", "softmax"), ln)]
    return pd.DataFrame(rows)


def verdicts(m):
    return [r["verdict"] for r in evaluate.check_claims(m, scale="mini", th=TH, bars=BARS)][:5]


def test_all_five_claims_pass_and_fail_on_hand_made_metrics():
    assert verdicts(metrics()) == [PASS] * 5
    # GAAM only +2 points; RCMHA below MHA; RCMHA saves more; LightNet below both scan baselines
    bad = metrics(gaam_n=0.62, rcmha=0.39, mem=(110, 100), ln=(0.3, 0.5, 0.6, 0.95))
    assert verdicts(bad) == [FAIL] * 5


def test_gates_make_claims_inconclusive():
    v = verdicts(metrics(att_s=0.3, mha_closed=0.2, ln=(0.5, 0.3, 0.52, 0.5)))
    assert v == [INCONCLUSIVE, INCONCLUSIVE, PASS, INCONCLUSIVE, INCONCLUSIVE]  # RC2 counts bytes: no gate
