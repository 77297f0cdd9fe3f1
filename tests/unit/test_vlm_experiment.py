"""The base VLM experiment (attnlab.vlm.plan / evaluate): its wiring and its checks on hand-made
predictions with known answers."""

import json
from pathlib import Path

import pandas as pd
import pytest

from attnlab import registry
from attnlab.config import ConfigError, validate_config
from attnlab.vlm import data as D
from attnlab.vlm.evaluate import check_claims, seed_metrics, validation
from attnlab.vlm.plan import EXPERIMENT, STAGES, train_params
from tests.fixtures import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def test_frame():
    prior = D.make_prior(0, 0.6)
    return D.synthesize(0, prior, n_train=0, n_dev=0, n_test=12)["test"], prior


def test_every_stage_is_one_job_per_seed_and_chains_its_inputs():
    cfg = load_config()
    steps = {s.name: s for s in EXPERIMENT.steps(EXPERIMENT.context(cfg))}
    assert [f"train_{s.lower()}" for s in STAGES] == [n for n in steps if n.startswith("train_")]
    a = steps["train_a"].inputs_for({"seed": "2"})
    assert a["vision"] == "results/vlm/runs/V/seed2/config.json" and a["text"] == "results/vlm/runs/T/seed2/config.json"
    assert steps["train_s"].inputs_for({"seed": "2"})["init"] == "results/vlm/runs/A/seed2/config.json"
    assert "heads" in steps["train_v"].output
    p = train_params(cfg["vlm"], cfg["base_seed"], "V", 0)
    assert p["stage"] == "V" and len(p["seeds"]) == 1 and p["vision"]["n_embd"] == cfg["vlm"]["model"]["vision"]["n_embd"]
    # every stage of one chain starts from the same seed; chains differ
    assert train_params(cfg["vlm"], 1, "S", 0)["seeds"] == train_params(cfg["vlm"], 1, "T", 0)["seeds"]
    assert train_params(cfg["vlm"], 1, "S", 0)["seeds"] != train_params(cfg["vlm"], 1, "S", 1)["seeds"]


def test_a_cross_key_mistake_names_both_keys():
    cfg = load_config()
    cfg["vlm"]["model"]["text"]["n_head"] = 5
    with pytest.raises(ConfigError, match=r"vlm\.model\.text\.n_embd.*vlm\.model\.text\.n_head"):
        registry.check(cfg)
    cfg = load_config()
    cfg["vlm"]["max_count"] = 2
    with pytest.raises(ConfigError, match=r"vlm\.max_count.*vlm\.data\.max_subjects"):
        registry.check(cfg)


def test_s_mix_reaches_synth_only_when_set_and_must_sum_to_one():
    from attnlab.vlm.plan import synth_params

    cfg = load_config()
    cfg["vlm"]["data"].pop("s_mix", None)
    assert "s_mix" not in synth_params(cfg["vlm"], 0, 0)  # absent: the design's mix, the synth params unchanged
    cfg["vlm"]["data"]["s_mix"] = {"caption": 0.3, "existence": 0.55, "vqa": 0.15}
    assert synth_params(cfg["vlm"], 0, 0)["s_mix"] == {"caption": 0.3, "existence": 0.55, "vqa": 0.15}
    registry.check(cfg)
    cfg["vlm"]["data"]["s_mix"] = {"caption": 0.3, "existence": 0.6, "vqa": 0.15}
    with pytest.raises(ConfigError, match=r"vlm\.data\.s_mix.*sum to 1\.05"):
        registry.check(cfg)


def test_align_trains_lm_reaches_stage_a_only_when_set():
    cfg = load_config()
    cfg["vlm"].pop("align_trains_lm", None)
    assert "align_trains_lm" not in train_params(cfg["vlm"], 0, "A", 0)  # the design: params unchanged
    cfg["vlm"]["align_trains_lm"] = True
    assert train_params(cfg["vlm"], 0, "A", 0)["align_trains_lm"] is True
    assert "align_trains_lm" not in train_params(cfg["vlm"], 0, "S", 0)


def test_the_lm_init_reaches_stage_t_only_and_the_notes_say_it_was_set_after_results():
    from attnlab.lm.configuration import AttnLMConfig

    cfg = load_config()
    cfg["vlm"]["model"]["text"] |= {"initializer_range": 0.08, "gpt2_init": True}
    t = train_params(cfg["vlm"], 0, "T", 0)
    lm = AttnLMConfig(**t["text"])
    assert lm.initializer_range == 0.08 and lm.gpt2_init is True
    # the towers (and so vit_heads) do not depend on the text config
    assert train_params(cfg["vlm"], 0, "V", 0) == train_params(load_config()["vlm"], 0, "V", 0)
    registry.check(cfg)
    reason = {"value": 0.08, "reason": "because"}
    cfg["experiments"]["vlm"]["set_after_results"] = {"/vlm.model.text.initializer_range": reason}
    assert any(line.startswith("vlm.model.text.initializer_range = 0.08; set after seeing results: because")
               for line in EXPERIMENT.deviations(cfg))
    cfg["vlm"]["model"]["text"]["gpt2_init"] = "yes"
    with pytest.raises(ConfigError, match=r"vlm\.model\.text\.gpt2_init"):
        validate_config(cfg, ROOT / "config/schema.yaml")


def test_loss_per_example_reaches_stages_a_and_s_only_when_set():
    cfg = load_config()
    cfg["vlm"].pop("loss_per_example", None)
    assert all("loss_per_example" not in train_params(cfg["vlm"], 0, st, 0) for st in STAGES)  # the design
    cfg["vlm"]["loss_per_example"] = False
    assert all("loss_per_example" not in train_params(cfg["vlm"], 0, st, 0) for st in STAGES)
    cfg["vlm"]["loss_per_example"] = True
    validate_config(cfg, ROOT / "config" / "schema.yaml")  # the schema knows the key
    assert [st for st in STAGES if train_params(cfg["vlm"], 0, st, 0).get("loss_per_example") is True] == ["A", "S"]
    cfg["vlm"]["loss_per_example"] = "yes"
    with pytest.raises(ConfigError, match=r"vlm\.loss_per_example"):
        validate_config(cfg, ROOT / "config" / "schema.yaml")


def test_the_mini_reference_lists_step_counts_below_the_design_as_deviations():
    cfg = load_config()
    cfg["vlm"]["stages"]["S"]["steps"] = 600
    assert any(d.startswith("vlm.stages.S.steps = 600 (spec mini: 2500)") for d in EXPERIMENT.deviations(cfg))


def test_perfect_predictions_score_chair_zero_and_full_pope(test_frame):
    test, prior = test_frame
    pred = test[["id"]].assign(prediction=list(test.answer))
    m, cases = seed_metrics(pred, test, prior.companion)
    assert m["chair.chair_i"] == 0 and m["caption_precision"] == 1 and m["chair.recall"] == 1
    assert m["pope.random.accuracy"] == 1 and m["pope.adversarial.accuracy"] == 1
    assert m["vqa.attribute"] == 1 and len(cases) == 12


def test_always_yes_has_half_pope_accuracy_and_yes_ratio_one(test_frame):
    test, prior = test_frame
    pred = test[["id"]].assign(prediction=["yes"] * len(test))
    m, _ = seed_metrics(pred, test, prior.companion)
    assert m["pope.random.accuracy"] == 0.5 and m["pope.random.yes_ratio"] == 1
    assert m["chair.unparseable_rate"] == 1  # "yes" is no caption: counted, not dropped


def _metrics(rows):
    return pd.DataFrame([{"seed_index": s, "pope.random.accuracy": r, "caption_precision": p,
                          "chair.chair_i": 1 - p, "pope.adversarial.accuracy": a} for s, (r, p, a) in enumerate(rows)])


def test_checks_follow_the_bars_and_gate_on_competence():
    val = {"truth_chair_i": 0.0, "truth_recall": 1.0, "shuffled_chair_i": 0.8}
    kw = dict(pope_bar=0.8, precision_bar=0.75, band={"lo": 0.05, "hi": 0.25}, scale="mini")
    good = check_claims(_metrics([(0.9, 0.9, 0.7)] * 3), val, **kw)
    assert [r["verdict"] for r in good] == ["PASS", "PASS", "PASS", "PASS", "PASS", "INCONCLUSIVE"]  # no blind
    perfect = check_claims(_metrics([(1.0, 1.0, 1.0)] * 3), val, **kw)
    assert perfect[2]["verdict"] == "FAIL" and perfect[3]["verdict"] == "FAIL"  # CHAIR_I 0: nothing to reduce
    weak = check_claims(_metrics([(0.6, 0.9, 0.5), (0.9, 0.9, 0.7), (0.9, 0.9, 0.7)]), val, **kw)
    assert weak[0]["verdict"] == "INCONCLUSIVE"  # seeds disagree
    assert check_claims(_metrics([(0.6, 0.9, 0.5)] * 3), val, **kw)[0]["verdict"] == "FAIL"
    assert weak[2]["verdict"] == "INCONCLUSIVE" and "under-trained" in weak[2]["why"]
    bad_val = check_claims(_metrics([(0.9, 0.9, 0.7)]), {**val, "truth_chair_i": 0.1, "blind_random": 0.9}, **kw)
    assert bad_val[4]["verdict"] == "FAIL" and bad_val[5]["verdict"] == "FAIL"
    assert check_claims(_metrics([(0.9, 0.9, 0.7)]), {**val, "blind_random": 0.6}, **kw)[5]["verdict"] == "PASS"


def test_the_question_only_rule_reads_hubs(test_frame):
    from attnlab.vlm.evaluate import blind_pope

    test, prior = test_frame
    b = blind_pope(test, list(prior.hubs))
    assert set(b) == {"random", "popular", "adversarial"} and all(0 <= v <= 1 for v in b.values())
    # every popular negative is a hub: the rule says yes to all of them
    ex = test[(test.task == "existence") & (test.pope_split == "popular")]
    assert b["popular"] <= (ex.answer == "yes").mean() + 1e-9


def test_validation_of_ground_truth_captions(test_frame):
    test, prior = test_frame
    v = validation(test, prior.companion, 0)
    assert v["truth_chair_i"] == 0 and v["truth_recall"] == 1 and v["shuffled_chair_i"] > 0.3
    json.dumps(v)


def test_subsample_caps_rows_per_task_and_pope_split(test_frame):
    from attnlab.vlm.predict import subsample

    test, _ = test_frame
    sub = subsample(test, 5, seed=0)
    counts = sub.groupby(["task", "pope_split"]).size()
    assert (counts <= 5).all() and set(counts.index) == set(test.groupby(["task", "pope_split"]).size().index)
    assert subsample(test, 5, seed=0).index.tolist() == sub.index.tolist()  # seeded
    assert subsample(test, None, seed=0) is test


def test_decode_stops_at_eos_and_drops_special_tokens():
    from attnlab.diffusion.tokenizer import EOS_ID, PAD_ID
    from attnlab.vlm.predict import decode
    from attnlab.vlm.processor import build_processor

    proc = build_processor()
    ids = proc.tokenizer("a red circle", add_special_tokens=False).input_ids
    assert decode(proc, [*ids, EOS_ID, *ids]) == "a red circle"
    assert decode(proc, [PAD_ID, *ids]) == "a red circle"
