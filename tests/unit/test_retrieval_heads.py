"""retrieval_heads: the plan's params, and the claim check on hand-made measurements."""

import numpy as np
import pandas as pd
import pytest

from attnlab.claims import FAIL, INCONCLUSIVE, PASS
from attnlab.retrieval_heads import evaluate, plan
from attnlab.tasks.synth import synthesize
from tests.fixtures import SMALL, experiment_config


@pytest.fixture(scope="module")
def cfg():
    return experiment_config("retrieval_heads", *SMALL)


def test_plan_builds_data_the_model_can_read(cfg):
    train = synthesize(**plan.synth_params(cfg, 1, "train", 0))
    test = synthesize(**plan.synth_params(cfg, 1, "test", 0))
    tp = plan.train_params(cfg, 1, 0)
    assert max(max(x) for x in pd.concat([train, test]).input_ids) < tp["model"]["vocab_size"]
    assert tp["model"]["n_positions"] >= max(test.length) and tp["model"]["attention"] == "softmax"
    assert len(test) == len(cfg["test_lengths"]) * len(cfg["test_depths"]) * cfg["n_test_per"]
    assert plan.synth_params(cfg, 1, "train", 0)["seed"] != plan.synth_params(cfg, 1, "test", 0)["seed"]
    hp = plan.heads_params(cfg, 1, 0)
    assert cfg["claim_k"] in hp["ks"] and hp["value_len"] == cfg["needle"]["value_len"]
    assert [m["seed_index"] for m in plan.manifest(cfg, 1)] == list(range(cfg["seeds"]))


def metrics(base, top, rnd, frac=0.1):
    return pd.DataFrame([{"seed_index": i, "base_accuracy": b, "top3_drop": t, "random3_drop": r,
                          "frac_retrieval": frac, "frac_zero": 0.5} for i, (b, t, r) in enumerate(zip(base, top, rnd))])


@pytest.mark.parametrize("base, top, rnd, verdict", [
    ([100, 95, 90], [90, 60, 50], [0, 10, 2], PASS),         # thresholds are inclusive
    ([100, 95, 90], [40, 30, 20], [0, 0, 0], FAIL),          # masking the top heads does not break NIAH
    ([100, 95, 90], [90, 90, 90], [30, 40, 50], FAIL),       # random heads break it too
    ([100, 95, 90], [90, 90, 10], [0, 0, 0], INCONCLUSIVE),  # seeds disagree
    ([100, 40, 90], [90, 30, 90], [0, 0, 0], INCONCLUSIVE),  # one model never solved the task
])
def test_claim_verdicts_follow_the_spec_thresholds(base, top, rnd, verdict):
    rows = evaluate.check_claims(metrics(base, top, rnd), k=3, scale="mini")
    assert rows[0]["verdict"] == verdict
    assert rows[0]["substitute"] is True and rows[0]["seeds"] == [0, 1, 2]
    assert all(r["verdict"] == "NOT RUN" for r in rows[1:])


def test_per_seed_metrics_from_frames():
    heads = pd.DataFrame({"seed_index": 0, "layer": [0, 0, 1, 1], "head": [0, 1, 0, 1],
                          "retrieval_score": [0.0, 0.05, 0.9, 0.0], "greedy_exact": 0.9})
    abl = pd.DataFrame([
        {"seed_index": 0, "condition": "none", "k": 0, "draw": 0, "n": 10, "accuracy": 1.0},
        {"seed_index": 0, "condition": "none", "k": 0, "draw": 0, "n": 30, "accuracy": 0.8},
        {"seed_index": 0, "condition": "top", "k": 1, "draw": 0, "n": 40, "accuracy": 0.0},
        {"seed_index": 0, "condition": "random", "k": 1, "draw": 0, "n": 40, "accuracy": 0.85},
        {"seed_index": 0, "condition": "random", "k": 1, "draw": 1, "n": 40, "accuracy": 0.75},
    ])
    m = evaluate.per_seed_metrics(heads, abl, [1]).iloc[0]
    assert m.base_accuracy == pytest.approx(85.0)  # cells weighted by their size
    assert m.top1_drop == pytest.approx(85.0) and m.random1_drop == pytest.approx(5.0)
    assert m.frac_retrieval == 0.25 and m.frac_zero == 0.5 and m.top_heads == "L1H0"


def test_shared_vocab_haystack_hides_the_needle_among_its_own_tokens():
    from attnlab.tasks import TASKS

    kw = dict(lengths=[64], depths=[0.0, 0.5, 1.0], n_keys=8, n_values=8, n_filler=16, key_len=2, value_len=3)
    own = TASKS["needle"].generate(4, 3, **kw)
    shared = TASKS["needle"].generate(4, 3, shared_vocab=True, **kw)
    for a, b in zip(own.itertuples(), shared.itertuples()):
        assert len(a.input_ids) == len(b.input_ids) and a.needle_pos == b.needle_pos
        v = slice(b.needle_pos + 4, b.needle_pos + 7)
        assert (a.input_ids[v] == b.input_ids[v]).all()  # same needles, same RNG stream
        hay = np.delete(b.input_ids[1:-9], np.arange(b.needle_pos - 1, b.needle_pos + 6))
        assert ((hay >= 8) & (hay < 24)).all()  # haystack from the key and value tokens
        own_hay = np.delete(a.input_ids[1:-9], np.arange(a.needle_pos - 1, a.needle_pos + 6))
        assert (own_hay >= 24).all()  # default: a separate filler vocabulary
