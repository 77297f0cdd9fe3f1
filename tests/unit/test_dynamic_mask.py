"""Dynamic-mask-attention plan and claim check on hand-made metrics."""

import pandas as pd
import pytest

from attnlab.dynamic_mask import evaluate, plan


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["dynamic_mask"]


def test_plan(cfg):
    assert plan.variants(cfg)["dma"] == {"attention": "dynamic_mask", "attention_options": {"window": cfg["window"]}}
    assert plan.variants(cfg)["mha"]["attention_options"] == {}
    test = plan.synth_params(cfg, 1, "test", 0)["parts"]
    assert len(test) == len(cfg["test_lengths"]) * len(cfg["test_pairs"])
    assert 4 * cfg["window"] in cfg["test_lengths"]  # the claim's length is tested
    p = plan.train_params(cfg, 1, "dma", 0)
    assert p["model"]["n_positions"] >= max(cfg["test_lengths"])


def metrics(acc, window=8):
    rows = []
    for v, values in acc.items():
        for s, a in enumerate(values):
            for k in (2, 4):
                rows.append({"variant": v, "seed_index": s, "n_pairs": k, "seq_len": 4 * window, "accuracy": a})
                rows.append({"variant": v, "seed_index": s, "n_pairs": k, "seq_len": 8 * window, "accuracy": 0.0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("dma,verdict", [([0.9, 0.92, 0.95], "PASS"), ([0.5, 0.5, 0.5], "FAIL"),
                                         ([0.9, 0.5, 0.9], "INCONCLUSIVE")])
def test_claim_verdicts(dma, verdict):
    m = metrics({"mha": [0.93, 0.93, 0.93], "swa": [0.6, 0.6, 0.6], "dma": dma})
    rows = evaluate.check_claims(m, window=8, train_len=32, bar=0.9, scale="mini")
    assert rows[0]["verdict"] == verdict
    assert rows[0]["competence"]["values"] == {"0": 0.93, "1": 0.93, "2": 0.93}
    assert all(r["verdict"] == "NOT RUN" for r in rows[1:])


def test_claim_without_all_variants_is_inconclusive():
    m = metrics({"mha": [0.9] * 3, "dma": [0.9] * 3})
    assert evaluate.check_claims(m, window=8, train_len=32, bar=0.9, scale="mini")[0]["verdict"] == "INCONCLUSIVE"


def test_mha_below_the_bar_at_the_training_length_is_under_trained():
    m = metrics({"mha": [0.93, 0.5, 0.93], "swa": [0.6] * 3, "dma": [0.95] * 3})
    row = evaluate.check_claims(m, window=8, train_len=32, bar=0.9, scale="mini")[0]
    assert row["verdict"] == "INCONCLUSIVE" and row["per_seed_pass"] == [True, None, True]
    assert "under-trained" in row["why"] and "seed 1" in row["why"]
    # a training length that was not tested gives no competence: every seed is unmeasured
    row = evaluate.check_claims(m, window=8, train_len=48, bar=0.9, scale="mini")[0]
    assert row["verdict"] == "INCONCLUSIVE" and "not measured" in row["why"]
