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
    assert len(plan.manifest(cfg, 1)) == len(cfg["variants"]) * cfg["seeds"] * len(plan.settings(cfg))


def test_pretuning_setting_applies_the_values_before_the_retune(cfg):
    before = {"trigger.n_states": 12, "trigger.p_trigger": 0.05, "train.steps": 3, "train.lr": 0.001}
    c = {**cfg, "before_tuning": before, "set_after_results": {k: {"value": 0, "reason": "r"} for k in before}}
    pre = plan.at_setting(c, "pretuning")
    assert pre["trigger"]["n_states"] == 12 and pre["trigger"]["p_trigger"] == 0.05
    assert pre["train"]["steps"] == 3 and pre["train"]["lr"] == 0.001
    assert c["trigger"]["n_states"] == cfg["trigger"]["n_states"]  # the tuned block is untouched
    assert plan.settings(c) == ["tuned", "pretuning"] and plan.settings(cfg) == ["tuned"]
    sp = plan.synth_params(c, 1, "train", 0, "pretuning")
    assert sp["parts"][0]["n_states"] == 12 and sp["seed"] == plan.synth_params(c, 1, "train", 0)["seed"]
    tp = plan.train_params(c, 1, "softmax", 0, "pretuning")
    assert tp["model"]["vocab_size"] == plan.TASKS["trigger"].vocab_size(n_states=12)
    assert tp["seed"] == plan.train_params(c, 1, "softmax", 0)["seed"]  # same seeds, other settings
    m = plan.manifest(c, 1)
    assert len(m) == 2 * len(cfg["variants"]) * cfg["seeds"]
    assert len({e["model_dir"] for e in m}) == len(m)


def test_pretuning_trains_only_before_tuning_seeds(cfg):
    before = {"train.steps": 3}
    c = {**cfg, "seeds": 3, "before_tuning": before, "before_tuning_seeds": 1,
         "set_after_results": {"train.steps": {"value": 0, "reason": "r"}}}
    assert plan.seeds_at(c, "tuned") == [0, 1, 2] and plan.seeds_at(c, "pretuning") == [0]
    m = plan.manifest(c, 1)
    assert sorted((e["setting"], e["seed_index"]) for e in m if e["variant"] == "softmax") == \
        [("pretuning", 0), ("tuned", 0), ("tuned", 1), ("tuned", 2)]
    assert plan.seeds_at({**c, "before_tuning_seeds": 9}, "pretuning") == [0, 1, 2]  # never more than `seeds`
    assert "1 of 3 seeds" in plan.table_params(c)["pretuning_seeds"]


def metrics(soft, sig, n_sec=(20, 20, 20), mlp_cos=0.8, control=0.1, rho=0.5, copy=(1.0, 1.0, 1.0),
            setting="tuned"):
    rows = []
    for s, (a, b) in enumerate(zip(soft, sig)):
        rows.append({"setting": setting, "variant": "softmax", "seed_index": s, "sink1": a, "n_secondary": n_sec[s],
                     "secondary_per_seq": 1.0, "mlp_cos": mlp_cos, "control_cos": control, "rho_norm_score": rho,
                     "rho_norm_layers": rho, "copy_accuracy": copy[s]})
        rows.append({"setting": setting, "variant": "sigmoid", "seed_index": s, "sink1": b, "n_secondary": 0,
                     "secondary_per_seq": 0.0, "mlp_cos": np.nan, "control_cos": np.nan, "rho_norm_score": np.nan,
                     "rho_norm_layers": np.nan, "copy_accuracy": 0.95})
    return pd.DataFrame(rows)


def claims(m, **kw):
    return evaluate.check_claims(m, ratio=5, min_secondary=10, epsilon=0.3, tau=0.1, scale="mini", copy_bar=0.9, **kw)


@pytest.mark.parametrize("soft, sig, verdict", [
    ([20.0, 15.0, 10.0], [0.5, 3.0, 0.0], PASS),       # 15 ≥ 5 × 3; a sink-free sigmoid model passes
    ([20.0, 15.0, 10.0], [5.0, 5.0, 5.0], FAIL),
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], FAIL),          # no sink anywhere is no evidence
    ([20.0, 15.0, 10.0], [1.0, 1.0, 4.0], INCONCLUSIVE),
    ([2.0, 3.0, 1.0], [0.0, 0.0, 0.0], FAIL),          # a sink-free sigmoid model: 5 × 0 alone would pass
    ([12.0, 12.0, 12.0], [2.2, 2.2, 2.2], FAIL),       # 5.5× but only 9.8 points apart
    ([9.9, 9.9, 9.9], [0.0, 0.0, 0.0], FAIL),          # below the 10% floor
])
def test_primary_sink_claim_uses_the_ratio_and_absolute_floors(soft, sig, verdict):
    assert claims(metrics(soft, sig))[0]["verdict"] == verdict


def test_primary_pass_by_hand():
    assert evaluate.primary_pass(10.0, 0.0, 5) and evaluate.primary_pass(15.0, 3.0, 5)
    assert not evaluate.primary_pass(0.5, 0.0, 5)  # the old check (> 0 and ≥ 5 × 0) passed this
    assert not evaluate.primary_pass(14.0, 4.5, 5) and not evaluate.primary_pass(40.0, 9.0, 5)


def test_under_trained_seed_makes_the_sink_claims_inconclusive():
    rows = claims(metrics([20.0, 20.0, 20.0], [0.0, 0.0, 0.0], copy=(0.99, 0.4, 0.97)))
    assert rows[0]["verdict"] == INCONCLUSIVE and "under-trained" in rows[0]["why"] and "seed 1" in rows[0]["why"]
    assert rows[0]["competence"]["bar"] == 0.9
    assert claims(metrics([20.0, 20.0, 20.0], [0.0, 0.0, 0.0]))[0]["verdict"] == PASS


def test_the_settings_before_the_retune_get_their_own_row():
    m = pd.concat([metrics([20.0, 20.0, 20.0], [0.0, 0.0, 0.0]),
                   metrics([3.0, 2.0, 1.0], [0.0, 0.0, 0.0], setting="pretuning")])
    rows = claims(m, before_tuning={"train.steps": 400})
    assert [r["verdict"] for r in rows] == [PASS, PASS, FAIL, "NOT RUN", "NOT RUN"]
    assert "before the retune" in rows[2]["claim"] and "train.steps = 400" in rows[2]["claim"]
    assert all(r["kind"] == "paper" for r in rows)


@pytest.mark.parametrize("kw, verdict", [
    ({}, PASS),
    ({"mlp_cos": 0.05}, FAIL),                    # creating MLPs no better aligned than at non-sinks
    ({"rho": -0.2}, FAIL),                        # norm does not set score and lifetime
    ({"n_sec": (20, 3, 20)}, INCONCLUSIVE),       # too few sinks on one seed to measure
    ({"rho": float("nan")}, INCONCLUSIVE),        # every sink lasts equally long: ρ undefined
])
def test_secondary_sink_claim_is_sign_based_and_needs_enough_sinks(kw, verdict):
    rows = claims(metrics([20, 20, 20], [0, 0, 0], **kw))
    assert rows[1]["verdict"] == verdict
    assert "nan" not in rows[1]["measured"]  # an undefined ρ is said in words
    assert [r["verdict"] for r in rows[2:]] == ["NOT RUN", "NOT RUN"]


class _CopyOracle:
    """A one-layer HeadModel stand-in that predicts the true next token at even positions and a wrong
    one at odd positions, with uniform causal attention."""

    n_layers, n_heads, token_offset = 1, 1, 0

    def pattern_names(self):
        return ["blocks.0.attn.hook_pattern"]

    def encode(self, ids):
        return ids

    def decode(self, ids):
        return ids

    def run(self, ids, names):
        import torch

        B, T = ids.shape
        nxt = torch.cat([ids[:, 1:], ids[:, :1]], 1)  # the true next token
        wrong = (nxt + 1) % 50
        pred = torch.where(torch.arange(T) % 2 == 0, nxt, wrong)
        logits = torch.nn.functional.one_hot(pred, 50).float()
        causal = torch.tril(torch.ones(T, T))
        cache = {"blocks.0.attn.hook_pattern": (causal / causal.sum(1, keepdim=True)).expand(B, 1, T, T),
                 "blocks.0.hook_resid_pre": torch.ones(B, T, 4), "blocks.0.hook_mlp_out": torch.ones(B, T, 4)}
        return logits, cache


def test_copy_accuracy_counts_the_copy_targets_predicted():
    from attnlab.heads import sink_suite

    T = 12
    ids = [[1] + [2 + (i % 7) for i in range(T - 1)] for _ in range(3)]
    copy = np.zeros((3, T), dtype=bool)
    copy[0, [3, 4, 7]] = True  # predicted from positions 2, 3, 6: right, wrong, right
    copy[1, [5, 9]] = True  # from 4, 8: right, right
    df = pd.DataFrame({"input_ids": ids, "length": T, "copy_mask": list(copy)})
    out = sink_suite.analyze(_CopyOracle(), df, T=T, min_queries=2, n_maps=1)
    assert out["samples"].copy_correct.tolist() == [2, 2, 0]
    assert out["samples"].copy_total.tolist() == [3, 2, 0]
    assert "copy_correct" not in sink_suite.analyze(_CopyOracle(), df.drop(columns="copy_mask"), T=T,
                                                    min_queries=2, n_maps=1)["samples"].columns
