"""The grassmann experiment's plan and claim checks on hand-made metrics and timings."""

import math

import pandas as pd
import pytest

from attnlab.claims import FAIL, INCONCLUSIVE, PASS
from attnlab.grassmann import evaluate, plan


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["grassmann"]


def test_plan_params_share_chains_and_shapes(cfg):
    t = plan.train_params(cfg, 1234, "transformer", 0)
    g = plan.train_params(cfg, 1234, "grassmann", 0)
    assert t["model"]["attention"] == "softmax" and g["model"]["attention"] == "grassmann"
    assert g["model"]["attention_options"] == {"rank": 16, "windows": [1, 2, 4, 8, 12, 16]}
    assert {k: v for k, v in t["model"].items() if not k.startswith("attention")} == \
        {k: v for k, v in g["model"].items() if not k.startswith("attention")}
    assert t["model"]["position_encoding"] == "learned" and t["seed"] != g["seed"]
    train, val = (plan.synth_params(cfg, 1234, s, 0)["parts"][0] for s in ("train", "val"))
    assert train["chain_seed"] == val["chain_seed"] != plan.synth_params(cfg, 1234, "val", 1)["parts"][0]["chain_seed"]
    assert len(plan.manifest(cfg, 1234)) == 2 * cfg["seeds"]


def metrics(t_loss, g_loss, unigram=3.0, oracle=2.0):
    rows = []
    for s, (a, b) in enumerate(zip(t_loss, g_loss)):
        for v, loss, params in (("transformer", a, 16640), ("grassmann", b, 17168)):
            rows.append({"variant": v, "seed_index": s, "val_loss": loss, "mixer_params": params,
                         "gap_closed": (unigram - loss) / (unigram - oracle)})
    return pd.DataFrame(rows)


def timing(g_slope, a_slope, seeds=3):
    L = [1024, 2048, 4096, 8192]
    return pd.DataFrame([{"seed_index": s, "layer": layer, "L": n, "seconds": 1e-6 * n**p}
                         for s in range(seeds) for layer, p in (("grassmann", g_slope), ("attention", a_slope))
                         for n in L])


def check(m, t):
    return evaluate.check_claims(m, evaluate.timing_fits(t), scale="mini", bar=0.5, ratio_max=1.15,
                                 slope_range=[0.8, 1.2], floor=1.6, lengths=[1024, 2048, 4096, 8192])


@pytest.mark.parametrize("g_loss,verdict", [([2.5, 2.55, 2.52], PASS), ([2.7, 2.8, 2.75], FAIL),
                                            ([2.5, 2.7, 2.5], INCONCLUSIVE)])
def test_g1_ratio_verdicts(g_loss, verdict):
    # R = exp(loss_G − loss_T): 2.5 − 2.4 -> 1.105 (pass), 2.7 − 2.4 -> 1.35 (fail)
    rows = check(metrics([2.4, 2.45, 2.42], g_loss), timing(1.0, 2.0))
    assert rows[0]["verdict"] == verdict
    assert rows[0]["per_seed_values"]["ratio"][0] == pytest.approx(math.exp(g_loss[0] - 2.4))


def test_g1_is_inconclusive_when_the_transformer_did_not_learn():
    # a Transformer at loss 2.8 closes (3 − 2.8)/(3 − 2) = 20% of the gap, below the 0.5 bar
    rows = check(metrics([2.8, 2.4, 2.4], [2.85, 2.45, 2.45]), timing(1.0, 2.0))
    assert rows[0]["verdict"] == INCONCLUSIVE and rows[0]["why"].startswith("under-trained")
    assert rows[0]["per_seed_pass"] == [None, True, True]


def test_parameter_match_and_g2_slopes():
    rows = check(metrics([2.4] * 3, [2.5] * 3), timing(1.0, 2.0))
    assert rows[1]["kind"] == "check" and rows[1]["verdict"] == PASS  # 17168 / 16640 − 1 = 3.2%
    assert rows[2]["verdict"] == PASS
    assert check(metrics([2.4] * 3, [2.5] * 3), timing(1.5, 2.0))[2]["verdict"] == FAIL
    out = check(metrics([2.4] * 3, [2.5] * 3), timing(1.0, 1.3))[2]
    assert out["verdict"] == INCONCLUSIVE and out["why"].startswith("sweep not in attention's quadratic regime")
    fits = evaluate.timing_fits(timing(1.0, 2.0))
    # 1e-6·L = 1e-6·L² only at L = 1: the fitted curves cross there
    assert fits.loc[fits.layer == "grassmann", "crossover_L"].tolist() == pytest.approx([1.0] * 3)
