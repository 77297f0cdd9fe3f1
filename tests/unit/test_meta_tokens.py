"""Meta-tokens plan and claim check on hand-made metrics."""

import pandas as pd
import pytest

from attnlab.meta_tokens import evaluate, plan
from attnlab.tasks.vocab import META


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["meta_tokens"]


def test_plan(cfg):
    base = plan.train_params(cfg, 1, "list_recall", "baseline", 0)
    meta = plan.train_params(cfg, 1, "list_recall", "meta_zero", 0)
    assert base["meta_token_rate"] == 0 and base["model"]["attention_options"] == {}
    assert meta["meta_token_rate"] == cfg["meta_rate"]
    assert meta["model"]["attention_options"] == {"meta_token_id": META, "zero_meta_positions": True}
    assert "meta_token_id" not in meta["model"]  # an option of meta-attention, not of the model
    assert base["model"]["position_encoding"] == meta["model"]["position_encoding"] == "rope"
    assert 2 * cfg["train_len"] in cfg["test_lengths"]
    assert plan.max_len(cfg) > max(cfg["test_lengths"]) * (1 + cfg["meta_rate"])


def metrics(base, meta, train_len=16):
    rows = []
    for v, values in (("baseline", base), ("meta", meta)):
        for s, a in enumerate(values):
            rows.append({"task": "list_recall", "variant": v, "seed_index": s, "seq_len": 2 * train_len, "accuracy": a})
            rows.append({"task": "list_recall", "variant": v, "seed_index": s, "seq_len": train_len, "accuracy": 1.0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("meta,verdict", [([0.5, 0.6, 0.45], "PASS"), ([0.3, 0.35, 0.3], "FAIL"),
                                          ([0.5, 0.3, 0.5], "INCONCLUSIVE")])
def test_claim_verdicts(meta, verdict):
    rows = evaluate.check_claims(metrics([0.3, 0.3, 0.3], meta), task="list_recall", train_len=16, scale="mini")
    assert rows[0]["verdict"] == verdict
    assert [r["verdict"] for r in rows[1:]] == ["NOT RUN", "NOT RUN"]
