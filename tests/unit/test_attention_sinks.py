"""attention_sinks: the plan's params, and the claim checks on hand-made measurements."""

import numpy as np
import pandas as pd
import pytest

from attnlab.attention_sinks import evaluate, plan
from attnlab.claims import FAIL, INCONCLUSIVE, PASS
from attnlab.tasks.synth import synthesize
from tests.fixtures import SMALL, experiment_config


@pytest.fixture(scope="module")
def cfg():
    return experiment_config("attention_sinks", *SMALL)


def test_plan_gives_both_variants_the_same_data_and_their_own_mechanism(cfg):
    soft, sig = plan.train_params(cfg, 1, "softmax", 0), plan.train_params(cfg, 1, "sigmoid", 0)
    assert soft["model"]["attention"] == "softmax" and sig["model"]["attention"] == "sigmoid"
    assert soft["seed"] != sig["seed"]
    train = synthesize(**plan.synth_params(cfg, 1, "train", 0))
    ev = synthesize(**plan.synth_params(cfg, 1, "eval", 0))
    assert (train.input_ids.map(lambda x: x[0]) == 1).all()  # a fixed first token (BOS)
    assert max(max(x) for x in pd.concat([train, ev]).input_ids) < soft["model"]["vocab_size"]
    assert ev.length.min() >= cfg["eval_len"]
    # train and eval share the bigram of a seed (chain_seed), not the sequences
    assert plan.synth_params(cfg, 1, "train", 0)["parts"][0]["chain_seed"] == \
        plan.synth_params(cfg, 1, "eval", 0)["parts"][0]["chain_seed"]
    assert len(plan.manifest(cfg, 1)) == len(cfg["variants"]) * cfg["seeds"]


def metrics(soft, sig, n_sec=(20, 20, 20), mlp_cos=0.8, control=0.1, rho=0.5):
    rows = []
    for s, (a, b) in enumerate(zip(soft, sig)):
        rows.append({"variant": "softmax", "seed_index": s, "sink1": a, "n_secondary": n_sec[s], "secondary_per_seq": 1.0,
                     "mlp_cos": mlp_cos, "control_cos": control, "rho_norm_score": rho, "rho_norm_layers": rho})
        rows.append({"variant": "sigmoid", "seed_index": s, "sink1": b, "n_secondary": 0, "secondary_per_seq": 0.0,
                     "mlp_cos": np.nan, "control_cos": np.nan, "rho_norm_score": np.nan, "rho_norm_layers": np.nan})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("soft, sig, verdict", [
    ([20.0, 15.0, 10.0], [0.5, 3.0, 0.0], PASS),       # 15 ≥ 5 × 3; a sink-free sigmoid model passes
    ([20.0, 15.0, 10.0], [5.0, 5.0, 5.0], FAIL),
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], FAIL),          # no sink anywhere is no evidence
    ([20.0, 15.0, 10.0], [1.0, 1.0, 4.0], INCONCLUSIVE),
])
def test_primary_sink_claim_uses_the_5x_ratio(soft, sig, verdict):
    rows = evaluate.check_claims(metrics(soft, sig), ratio=5, min_secondary=10, epsilon=0.3, tau=0.1, scale="mini")
    assert rows[0]["verdict"] == verdict


@pytest.mark.parametrize("kw, verdict", [
    ({}, PASS),
    ({"mlp_cos": 0.05}, FAIL),                    # creating MLPs no better aligned than at non-sinks
    ({"rho": -0.2}, FAIL),                        # norm does not set score and lifetime
    ({"n_sec": (20, 3, 20)}, INCONCLUSIVE),       # too few sinks on one seed to measure
    ({"rho": float("nan")}, INCONCLUSIVE),        # every sink lasts equally long: ρ undefined
])
def test_secondary_sink_claim_is_sign_based_and_needs_enough_sinks(kw, verdict):
    rows = evaluate.check_claims(metrics([20, 20, 20], [0, 0, 0], **kw), ratio=5, min_secondary=10, epsilon=0.3,
                                 tau=0.1, scale="mini")
    assert rows[1]["verdict"] == verdict
    assert [r["verdict"] for r in rows[2:]] == ["NOT RUN", "NOT RUN"]
