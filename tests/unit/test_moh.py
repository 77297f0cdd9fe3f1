"""MoH plan and claim checks on hand-made metrics (verdicts come from the spec's thresholds)."""

import numpy as np
import pandas as pd
import pytest

from attnlab.moh import evaluate, plan


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["moh"]


def test_variants_and_params(cfg):
    v = plan.variants(cfg)
    assert set(v) == {"mha", "moh50", "moh75"}
    assert v["moh75"]["attention_options"]["active_heads"] == 6 and v["moh50"]["attention_options"]["active_heads"] == 4
    p = plan.train_params(cfg, 1234, "markov_mixture", "moh75", 0)
    assert p["model"]["attention"] == "moh" and p["model"]["n_head"] == 8
    assert p["seed"] != plan.train_params(cfg, 1234, "markov_mixture", "mha", 0)["seed"]
    train = plan.synth_params(cfg, 1234, "markov_mixture", "train", 0)["parts"][0]
    val = plan.synth_params(cfg, 1234, "markov_mixture", "val", 0)["parts"][0]
    assert train["chain_seed"] == val["chain_seed"]  # same chains, different sequences
    assert len(plan.manifest(cfg, 1234)) == len(cfg["tasks"]) * 3 * cfg["seeds"]


def metrics(mha, moh, frac=0.75):
    rows = []
    for s, (a, b) in enumerate(zip(mha, moh)):
        rows.append({"task": "t", "variant": "mha", "target_fraction": 1.0, "seed_index": s, "val_loss": a,
                     "active_fraction": 1.0})
        rows.append({"task": "t", "variant": "moh75", "target_fraction": 0.75, "seed_index": s, "val_loss": b,
                     "active_fraction": frac})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("moh,verdict", [([2.01, 2.02, 2.00], "PASS"), ([2.10, 2.2, 2.1], "FAIL"),
                                         ([2.01, 2.1, 2.0], "INCONCLUSIVE")])
def test_non_inferiority_verdict(moh, verdict):
    rows = evaluate.check_claims(metrics([2.0, 2.0, 2.0], moh), task="t", claim_variant="moh75", scale="mini")
    assert rows[0]["verdict"] == verdict
    assert rows[1]["verdict"] == "PASS"  # realised fraction 0.75 = target
    assert [r["verdict"] for r in rows[2:]] == ["NOT RUN", "NOT RUN"]


def test_active_fraction_off_target_fails():
    rows = evaluate.check_claims(metrics([2.0] * 3, [2.0] * 3, frac=0.70), task="t", claim_variant="moh75", scale="mini")
    assert rows[1]["verdict"] == "FAIL"


def test_load_entropy_balanced_and_collapsed():
    balanced = np.array([[1.0, 1.0, 0.5, 0.5, 0.5, 0.5]])
    collapsed = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])
    assert evaluate.load_entropy(balanced, shared=2) == pytest.approx(1.0)
    assert evaluate.load_entropy(collapsed, shared=2) == pytest.approx(0.5)
