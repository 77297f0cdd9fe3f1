"""MoH plan and claim checks on hand-made metrics (verdicts come from the spec's thresholds)."""

import numpy as np
import pandas as pd
import pytest

from attnlab.moh import evaluate, plan, reference
from attnlab.tasks.markov import markov_mixture, transition_matrices
from attnlab.tasks.vocab import BOS, FIRST


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


def metrics(mha, moh, frac=0.75, bigram=2.5, oracle=1.5):
    rows = []
    for s, (a, b) in enumerate(zip(mha, moh)):
        ref = {"bigram_nll": bigram, "oracle_nll": oracle}
        rows.append({"task": "t", "variant": "mha", "target_fraction": 1.0, "seed_index": s, "val_loss": a,
                     "active_fraction": 1.0, **ref})
        rows.append({"task": "t", "variant": "moh75", "target_fraction": 0.75, "seed_index": s, "val_loss": b,
                     "active_fraction": frac, **ref})
    return pd.DataFrame(rows)


def check(m):
    return evaluate.check_claims(m, task="t", claim_variant="moh75", scale="mini", bar=0.5)


@pytest.mark.parametrize("moh,verdict", [([2.01, 2.02, 2.00], "PASS"), ([2.10, 2.2, 2.1], "FAIL"),
                                         ([2.01, 2.1, 2.0], "INCONCLUSIVE")])
def test_non_inferiority_verdict(moh, verdict):
    rows = check(metrics([2.0, 2.0, 2.0], moh))  # MHA closes (2.5 − 2.0)/(2.5 − 1.5) = 50% of the gap
    assert rows[0]["verdict"] == verdict
    assert rows[0]["competence"]["values"] == {"0": 0.5, "1": 0.5, "2": 0.5}
    assert rows[0]["per_seed_values"]["share_of_gap"][1] == pytest.approx({"PASS": 0.02, "FAIL": 0.2,
                                                                            "INCONCLUSIVE": 0.1}[verdict])
    assert rows[1]["verdict"] == "PASS" and rows[1]["kind"] == "check"  # realised fraction 0.75 = target
    assert [r["verdict"] for r in rows[2:]] == ["NOT RUN", "NOT RUN"]


def test_under_trained_mha_makes_the_claim_inconclusive():
    # seed 1's MHA closes (2.5 − 2.2)/(2.5 − 1.5) = 30% < 50% of the gap: its check counts for nothing
    rows = check(metrics([2.0, 2.2, 2.0], [2.01, 2.21, 2.0]))
    assert rows[0]["verdict"] == "INCONCLUSIVE" and rows[0]["per_seed_pass"] == [True, None, True]
    assert "under-trained" in rows[0]["why"] and "seed 1" in rows[0]["why"]
    assert rows[1]["verdict"] == "PASS"  # the implementation check needs no competence


def test_gate_needs_the_reference_losses():
    with pytest.raises(Exception, match="bigram_nll"):
        check(metrics([2.0] * 3, [2.0] * 3).drop(columns="bigram_nll"))


def test_active_fraction_off_target_fails():
    rows = check(metrics([2.0] * 3, [2.0] * 3, frac=0.70))
    assert rows[1]["verdict"] == "FAIL"


# --- reference losses on hand-made chains ------------------------------------------------------
LOG2 = np.log(2.0)
STAY_FLIP = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])  # chain 0 stays, chain 1 flips


def test_stay_or_flip_chains():
    # the chain decides everything (oracle 0) but, ignoring it, the next state is a coin flip
    exp = reference.expected_losses(STAY_FLIP, seq_len=10)
    assert exp == pytest.approx({"unigram": LOG2, "bigram": LOG2, "oracle": 0.0})
    seqs = [[BOS, FIRST, FIRST, FIRST, FIRST], [BOS, FIRST + 1, FIRST, FIRST + 1, FIRST]]
    per = reference.sequence_losses(seqs, [0, 1], STAY_FLIP)
    np.testing.assert_allclose(per["oracle"], [0.0, 0.0])
    np.testing.assert_allclose(per["bigram"], [LOG2, LOG2])
    np.testing.assert_allclose(per["unigram"], [LOG2, LOG2])
    # Bayes: the first transition is a coin flip under the uniform prior, then the chain is known
    np.testing.assert_allclose(per["bayes"], [LOG2 / 3, LOG2 / 3])


def test_one_chain_bigram_is_the_oracle():
    P = np.array([[[0.9, 0.1], [0.1, 0.9]]])
    h = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    assert reference.expected_losses(P, seq_len=20) == pytest.approx({"unigram": LOG2, "bigram": h, "oracle": h})


def test_non_stationary_chain_by_hand():
    # P = [[0, 1], [.5, .5]] from a uniform start, walk of 3 states (seq_len 4: targets x1, x2):
    # x0 ~ (.5, .5), x1 ~ (.25, .75); pairs averaged over the two targets:
    # J = [[0, .375], [.3125, .3125]]: only state 1 is uncertain, so H(X_t | X_t−1) = .625 log 2
    P = np.array([[[0.0, 1.0], [0.5, 0.5]]])
    np.testing.assert_allclose(reference.pair_distribution(P, 3), [[0.0, 0.375], [0.3125, 0.3125]])
    q = np.array([0.3125, 0.6875])
    exp = reference.expected_losses(P, seq_len=4)
    assert exp == pytest.approx({"unigram": float(-(q * np.log(q)).sum()), "bigram": 0.625 * LOG2,
                                 "oracle": 0.625 * LOG2})


def test_sequence_losses_match_the_task_and_the_expectation():
    P = transition_matrices(3, 8, 0.3, chain_seed=5)
    df = markov_mixture(3000, seed=2, seq_len=24, n_states=8, n_chains=3, concentration=0.3, chain_seed=5)
    per = reference.sequence_losses(df.input_ids, df.chain, P)
    np.testing.assert_allclose(per["oracle"], df.oracle_nll, rtol=1e-12)  # the task's own oracle column
    exp = reference.expected_losses(P, seq_len=24)
    for k in ("unigram", "bigram", "oracle"):
        assert per[k].mean() == pytest.approx(exp[k], abs=0.02)
    assert exp["unigram"] > exp["bigram"] > exp["oracle"]
    assert per["bigram"].mean() > per["bayes"].mean() > per["oracle"].mean()


def test_manifest_names_the_validation_chains(cfg):
    item = next(i for i in plan.manifest(cfg, 1234) if i["task"] == "markov_mixture")
    val = plan.synth_params(cfg, 1234, "markov_mixture", "val", item["seed_index"])["parts"][0]
    assert item["chains"]["chain_seed"] == val["chain_seed"] and item["chains"]["n_states"] == val["n_states"]


def test_load_entropy_balanced_and_collapsed():
    balanced = np.array([[1.0, 1.0, 0.5, 0.5, 0.5, 0.5]])
    collapsed = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])
    assert evaluate.load_entropy(balanced, shared=2) == pytest.approx(1.0)
    assert evaluate.load_entropy(collapsed, shared=2) == pytest.approx(0.5)
