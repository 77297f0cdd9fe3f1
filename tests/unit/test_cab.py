"""cab: the tasks (no shortcut, the Bayes oracle on hand-made chains), the efficiency length on
hand-made curves, Δ and the claim rows on hand-made cells, and the plan's cross-key checks."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from attnlab.cab import SUPPORT
from attnlab.cab.efficiency import efficiency_length
from attnlab.cab.evaluate import check_claims, deltas
from attnlab.claims import FAIL, INCONCLUSIVE, NOT_RUN, PASS
from attnlab.config import ConfigError
from attnlab.tasks import cab as tasks
from attnlab.tasks.vocab import BOS, EOS, FIRST, QUERY


def test_masked_marginals_on_a_deterministic_chain():
    """A chain that always steps s -> s+1 (mod 4): a masked state is its neighbours' consequence."""
    P = np.roll(np.eye(4), 1, axis=1)
    x = np.array([0, 1, 2, 3, 0])
    masked = np.array([False, False, True, True, False])
    post = tasks.masked_marginals(P, x, masked)
    np.testing.assert_allclose(post[2], np.eye(4)[2], atol=1e-12)
    np.testing.assert_allclose(post[3], np.eye(4)[3], atol=1e-12)
    # a uniform chain: no information, uniform posterior
    post = tasks.masked_marginals(np.full((4, 4), 0.25), x, masked)
    np.testing.assert_allclose(post[2], np.full(4, 0.25))


def test_ns_frames_mask_exactly_n_tokens_and_keep_the_originals():
    df = tasks.ns_masked(20, seed=1, seq_len=17, n_masked=3)
    for src, tgt, m in zip(df["input_ids"], df["target_ids"], df["target_mask"]):
        assert src[0] == BOS and m.sum() == 3 and not m[0]
        assert np.all(src[m] == QUERY) and np.all(src[~m] == tgt[~m]) and np.all(tgt[m] >= FIRST)
    assert 0 <= df["oracle_correct"].sum() <= df["n_targets"].sum()


def test_cs_oracle_is_the_chains_most_likely_next_state():
    df = tasks.cs_lm(50, seed=0, seq_len=12, concentration=0.01)  # near-deterministic chains
    assert df["oracle_correct"].sum() / df["n_targets"].sum() > 0.7
    P = tasks.transition_matrices(4, 32, 0.01, 0)
    ids, chain = np.asarray(df["input_ids"][0]) - FIRST, df["chain"][0]
    assert df["oracle_correct"][0] == sum(P[chain, ids[t - 1]].argmax() == ids[t] for t in range(2, 12))


def test_nc_and_cc_targets_follow_from_the_source_alone():
    nc = tasks.nc_lookup(30, seed=2, source_len=10, n_queries=4)
    for src, dec, tgt in zip(nc["input_ids"], nc["decoder_input_ids"], nc["target_ids"]):
        p = dec - tasks.POSITION0 + 1
        assert len(set(p)) == 4 and np.all(src[p] == tgt)
    cc = tasks.cc_reversal(30, seed=2, source_len=5)
    for src, tgt in zip(cc["input_ids"], cc["target_ids"]):
        assert list(tgt) == list(src[1:][::-1]) + [EOS]
    # targets are uniform symbols: no token-type shortcut (every symbol appears)
    assert len(set(np.concatenate(list(nc["target_ids"])))) > 20


def test_efficiency_length_of_hand_made_curves():
    L = [100, 200, 400, 800]
    quad = [x * x for x in L]
    assert efficiency_length(L, quad, [300 * x for x in L]) == pytest.approx(300, rel=1e-6)
    assert efficiency_length(L, quad, [1e-3 * x for x in L]) == pytest.approx(1e-3, rel=1e-3)  # crosses at ~0
    assert efficiency_length(L, [5 * x for x in L], [x for x in L]) is None  # vanilla not quadratic


def cells(acc: dict) -> pd.DataFrame:
    rows = []
    for (p, m), per_seed in acc.items():
        for s, a in enumerate(per_seed):
            rows.append({"pattern": p, "mechanism": m, "seed_index": s, "accuracy": a,
                         "leakage": 0.0 if p in ("cs", "cc") else float("nan")})
    return pd.DataFrame(rows)


GOOD = {("ns", "vanilla"): [0.5, 0.5], ("ns", "local"): [0.52, 0.5], ("ns", "performer"): [0.48, 0.5],
        ("cs", "vanilla"): [0.3, 0.3], ("cs", "abc"): [0.28, 0.3],
        ("nc", "vanilla"): [0.95, 0.97], ("nc", "performer"): [0.6, 0.5],
        ("cc", "vanilla"): [0.99, 0.92], ("cc", "performer"): [0.7, 0.8]}
EFF = pd.DataFrame({"mechanism": ["performer"], "efficiency_length": [1234.0]})


def test_deltas_are_mean_points_against_vanilla():
    d = deltas(cells(GOOD))
    assert d["ns"] == pytest.approx({0: 0.0, 1: 0.0})
    assert d["nc"] == pytest.approx({0: -35.0, 1: -47.0})


def test_c1_passes_fails_and_waits_for_competence():
    rows = check_claims(cells(GOOD), EFF, scale="mini", seeds=[0, 1], margin=10, bar=0.9, tolerance=1e-5)
    c1, leak = rows[0], rows[1]
    assert (c1["verdict"], c1["kind"], c1["substitute"]) == (PASS, "paper", True)
    assert leak["verdict"] == PASS and leak["kind"] == "check"
    assert [r["verdict"] for r in rows[2:]] == [NOT_RUN, NOT_RUN]
    flat = copy.deepcopy(GOOD)
    flat[("nc", "performer")] = [0.95, 0.97]
    flat[("cc", "performer")] = [0.99, 0.92]
    assert check_claims(cells(flat), EFF, scale="mini", seeds=[0, 1], margin=10, bar=0.9,
                        tolerance=1e-5)[0]["verdict"] == FAIL
    weak = copy.deepcopy(GOOD)
    weak[("cc", "vanilla")] = [0.99, 0.5]  # seed 1's vanilla did not learn CC
    row = check_claims(cells(weak), EFF, scale="mini", seeds=[0, 1], margin=10, bar=0.9, tolerance=1e-5)[0]
    assert row["verdict"] == INCONCLUSIVE and "under-trained" in row["why"]


def test_a_leaking_model_makes_its_seed_unmeasured():
    c = cells(GOOD)
    c.loc[(c["pattern"] == "cc") & (c["seed_index"] == 1), "leakage"] = 0.3
    rows = check_claims(c, EFF, scale="mini", seeds=[0, 1], margin=10, bar=0.9, tolerance=1e-5)
    assert rows[0]["verdict"] == INCONCLUSIVE and rows[1]["verdict"] == INCONCLUSIVE


def test_plan_checks_name_the_keys():
    from attnlab.cab import plan
    from attnlab.experiment import Context

    config = yaml.safe_load(open("config/config.yaml"))
    ctx = Context(config, "cab")
    plan.check(ctx)
    bad = copy.deepcopy(config)
    bad["experiments"]["cab"]["mechanisms"]["cs"] = ["vanilla", "performer"]
    with pytest.raises(ConfigError, match="experiments.cab.mechanisms.cs"):
        plan.check(Context(bad, "cab"))
    bad = copy.deepcopy(config)
    bad["experiments"]["cab"]["mechanisms"]["nc"] = ["abc"]
    with pytest.raises(ConfigError, match="lacks 'vanilla'"):
        plan.check(Context(bad, "cab"))
    assert set(SUPPORT) == {"ns", "cs", "nc", "cc"}


def test_members_swap_the_mechanism_only_in_the_pattern_under_test():
    from attnlab.cab import plan

    cfg = yaml.safe_load(open("config/config.yaml"))["experiments"]["cab"]
    nc = plan.model_params(cfg, "nc", "performer", 7)
    assert nc["cross_attention"] == "performer"
    assert "encoder_attention" not in nc and nc["decoder_causal"] is False  # encoder, decoder self: vanilla default
    assert plan.model_params(cfg, "cc", "abc", 7)["decoder_causal"] is True
    assert plan.model_params(cfg, "ns", "local", 7)["encoder_attention_options"] == {"window": 9}  # i-8..i+8
    assert plan.model_params(cfg, "cs", "local", 7)["attention_options"] == {"window": 8}  # i-7..i
    ms = plan.members(cfg, 1234, "nc", [0, 1])
    assert len({m["seed"] for m in ms if m["seed_index"] == 0}) == 1  # one seed's mechanisms share batches
