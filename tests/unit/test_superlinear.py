"""The superlinear experiment: its task (dense supervision, no shortcut by marker, order or token
type), plan, fits and claim checks on hand-made metrics with known verdicts."""

import numpy as np
import pandas as pd
import pytest

from attnlab.claims import FAIL, INCONCLUSIVE, PASS
from attnlab.config import ConfigError
from attnlab.superlinear import evaluate, plan
from attnlab.superlinear.metrics import depth_bin
from attnlab.superlinear.task import FIRST, KEY, QUERY, VAL, generate, vocab_size


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["superlinear"]


def test_task_answers_and_supervision():
    df = generate(20, 3, length=128, n_needles=8, n_queries=6)
    assert (df.length == 128).all()
    for _, r in df.iterrows():
        x, m = np.asarray(r.input_ids), np.asarray(r.target_mask)
        assert m.sum() == 12  # both value tokens of 6 queries
        needles = np.flatnonzero(x[:r.answer_pos[0] - 2] == KEY)  # before the query block
        assert len(needles) == 8 and len(set(x[needles + 1])) == 8  # distinct keys
        assert len(set(r.needle_pos)) == 6  # each queried needle asked once
        for a, v, n in zip(r.answer_pos, r.value_pos, r.needle_pos):
            assert x[a - 2] == QUERY and x[a] == x[n + 1]  # the query names the needle's key
            assert (x[a + 1:a + 3] == x[v:v + 2]).all() and m[a + 1:a + 3].all()  # its answer is the needle's value
        assert 0 <= min(r.depth) and max(r.depth) <= 1
        hay = x[(x >= FIRST)]
        assert hay.max() < vocab_size(32, 32)  # shared vocabulary: no filler token type
    # the queried needle's rank among the needles is not fixed (no order shortcut)
    ranks = [int(np.searchsorted(np.flatnonzero(np.asarray(r.input_ids)[:r.answer_pos[0]] == KEY), r.needle_pos[0]))
             for _, r in df.iterrows()]
    assert len(set(ranks)) > 3


def test_task_in_the_spec_query_format():
    df = generate(4, 0, length=128, query_val=True)
    for _, r in df.iterrows():
        x = np.asarray(r.input_ids)
        for a, v, n in zip(r.answer_pos, r.value_pos, r.needle_pos):
            assert x[a] == VAL and x[a - 3] == QUERY and x[a - 1] == x[n + 1] and (x[a + 1:a + 3] == x[v:v + 2]).all()


def test_task_with_a_filler_vocabulary():
    df = generate(4, 0, length=128, shared_vocab=False, n_filler=64)
    assert max(max(x) for x in df.input_ids) < vocab_size(32, 32, 64, shared_vocab=False)
    assert max(max(x) for x in df.input_ids) >= vocab_size(32, 32)


def test_depth_bins():
    assert depth_bin(pd.Series([0.0, 0.1, 0.13, 0.49, 0.9, 1.0])).tolist() == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]


def test_plan(cfg):
    v = plan.variants(cfg)
    assert v["superlinear"] == {"attention": "superlinear", "attention_options": {"span": 16, "top_k": 2}}
    assert v["swa"]["attention_options"] == {"window": 48} and v["dense"]["attention"] == "softmax"
    p = plan.train_params(cfg, 1, "superlinear", 0)
    assert p["model"]["n_positions"] >= max(cfg["test_lengths"])
    assert plan.sweep_params(cfg, 1, 0)["threads"] == 1


def test_check_requires_the_same_budget(unit_config):
    unit_config["experiments"]["superlinear"]["window"] = 32
    with pytest.raises(ConfigError, match="experiments.superlinear.window"):
        plan.check(plan.EXPERIMENT.context(unit_config))


def accuracy(sup, dense, swa_far, sup_far=None, seeds=(0, 1, 2)):
    rows = []
    for s in seeds:
        for d in (0.0, 0.25, 0.5, 0.75, 1.0):
            far = d in (0.0, 0.25)
            for v, a in (("dense", dense[s]), ("superlinear", (sup_far or sup)[s] if far else sup[s]),
                         ("swa", swa_far[s] if far else 0.9)):
                rows.append({"variant": v, "seed_index": s, "seq_len": 128, "depth": d, "accuracy": a,
                             "routing_recall": 0.9 if v == "superlinear" else np.nan, "n_queries": 100})
    return pd.DataFrame(rows)


def sweeps_fits(sl=1.5, dense=2.0, seeds=(0, 1, 2)):
    rows = []
    for s in seeds:
        for L in (1024, 2048, 4096, 8192):
            rows.append({"seed_index": s, "op": "superlinear", "L": L, "seconds": 1e-7 * L**sl, "flops": L**1.5})
            rows.append({"seed_index": s, "op": "dense_sdpa", "L": L, "seconds": 1e-9 * L**dense, "flops": L**2})
    return evaluate.fits(pd.DataFrame(rows))


def verdicts(acc, f):
    rows = evaluate.check_claims(acc, f, train_len=128, claim_depths=[0.0, 0.25], bar=0.8, band=[1.25, 1.75],
                                 floor=1.75, span=16, top_k=2, window=48, lengths=[128], scale="test",
                                 timing_lengths=[1024, 2048, 4096, 8192], coverage=1.0)
    return [r["verdict"] for r in rows], rows


def test_the_instrument_is_sdpa_without_a_mask_when_the_sweep_has_it():
    rows = []
    for L in (1024, 2048, 4096, 8192):
        rows += [{"seed_index": 0, "op": "superlinear", "L": L, "seconds": 1e-7 * L**1.5, "flops": L**1.5},
                 {"seed_index": 0, "op": "dense_sdpa", "L": L, "seconds": 1e-9 * L**1.8, "flops": L**2},
                 {"seed_index": 0, "op": "dense_sdpa_full", "L": L, "seconds": 1e-9 * L**2.0, "flops": L**2}]
    f = evaluate.fits(pd.DataFrame(rows))
    assert f.dense_slope.tolist() == pytest.approx([2.0]) and f.dense_causal_slope.tolist() == pytest.approx([1.8])
    # the crossover is still with the causal kernel: 1e-7 L^1.5 = 1e-9 L^1.8 at L = 100^(1/0.3)
    assert f.crossover_L.tolist() == pytest.approx([100 ** (1 / 0.3)], rel=1e-6)


def test_fits_recover_known_exponents():
    f = sweeps_fits(1.5, 2.0)
    assert f.superlinear_slope.tolist() == pytest.approx([1.5] * 3)
    assert f.dense_slope.tolist() == pytest.approx([2.0] * 3)
    assert f.analytic_slope.tolist() == pytest.approx([1.5] * 3)
    # 1e-7 L^1.5 = 1e-9 L^2 at L = 100^2
    assert f.crossover_L.tolist() == pytest.approx([1e4] * 3)


@pytest.mark.parametrize("sup,swa_far,expected", [
    ([0.9] * 3, [0.1] * 3, PASS),
    ([0.6] * 3, [0.1] * 3, FAIL),  # more than 10 points below dense
    ([0.9] * 3, [0.8] * 3, FAIL),  # not 20 points above the window where the needle is outside it
    ([0.9, 0.6, 0.9], [0.1] * 3, INCONCLUSIVE),  # seeds disagree
])
def test_niah_claim(sup, swa_far, expected):
    v, rows = verdicts(accuracy(sup, [0.95] * 3, swa_far), sweeps_fits())
    assert v[0] == PASS and v[1] == expected and v[2] == PASS
    assert rows[1]["competence"]["values"] == {"0": 0.95, "1": 0.95, "2": 0.95}


def test_an_untrained_dense_baseline_makes_the_niah_claim_inconclusive():
    v, rows = verdicts(accuracy([0.9] * 3, [0.5, 0.95, 0.95], [0.1] * 3), sweeps_fits())
    assert v[1] == INCONCLUSIVE and "under-trained" in rows[1]["why"]


@pytest.mark.parametrize("sl,dense,expected", [(1.5, 2.0, PASS), (1.9, 2.0, FAIL), (1.1, 1.95, FAIL),
                                               (1.5, 1.6, INCONCLUSIVE)])
def test_cost_exponent_claim(sl, dense, expected):
    v, rows = verdicts(accuracy([0.9] * 3, [0.95] * 3, [0.1] * 3), sweeps_fits(sl, dense))
    assert v[0] == expected
    if expected == INCONCLUSIVE:
        assert rows[0]["why"].startswith("sweep not in its quadratic regime")


def test_non_exclusion_holds_by_construction():
    assert evaluate.non_exclusion([37, 128, 256], 16) == 1.0
