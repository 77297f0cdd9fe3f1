"""Deviations from the spec: the record's reference settings against a running config, the
config's set_after_results entries, and the table notes generated from them."""

import json
from pathlib import Path

import pandas as pd
import pytest

from attnlab import registry
from attnlab.cli import StepArgs
from attnlab.config import ConfigError, validate_config
from attnlab.experiment import Contains, Experiment, Span, Within, matches, show
from attnlab.tables import deviation_notes, write_paper_table

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


@pytest.fixture
def config(unit_config):
    """The frozen mini config (tests/fixtures/config_unit.yaml), a fresh copy per test."""
    return unit_config


def toy(reference=None) -> Experiment:
    return Experiment(id="toy", paper="A toy paper", steps=lambda ctx: [],
                      reference=reference if reference is not None else {
                          "mini": {"model.n_embd": 64, "window": 32, "train.steps": 500}})


def toy_config(scale="mini", **block) -> dict:
    cfg = {"model": {"n_layer": 2, "n_embd": 32}, "window": 32, "train": {"steps": 500, "lr": 0.01}, **block}
    return {"scale": scale, "base_seed": 1, "threads": 1, "experiments": {"toy": cfg},
            "vision": {"image_size": 32}}


# --- the deviation computation on hand-made configs ----------------------------------------------


def test_a_differing_nested_key_is_listed_and_equal_keys_are_not():
    # model.n_embd differs (32 vs 64); window and train.steps equal the reference
    assert toy().deviations(toy_config()) == ["model.n_embd = 32 (spec mini: 64)"]


def test_a_config_that_meets_every_reference_setting_has_no_deviations():
    cfg = toy_config()
    cfg["experiments"]["toy"]["model"]["n_embd"] = 64.0  # 64.0 is 64
    assert toy().deviations(cfg) == []


def test_every_differing_key_is_listed_in_reference_order():
    cfg = toy_config(window=16)
    cfg["experiments"]["toy"]["train"]["steps"] = 250
    assert toy().deviations(cfg) == ["model.n_embd = 32 (spec mini: 64)", "window = 16 (spec mini: 32)",
                                     "train.steps = 250 (spec mini: 500)"]


def test_a_reference_key_missing_from_the_config_is_an_error_naming_it():
    exp = toy({"mini": {"model.n_head": 4}})
    with pytest.raises(ConfigError, match=r"experiments\.toy\.model\.n_head: in the mini reference of toy"):
        exp.deviations(toy_config())


def test_a_scale_without_reference_says_so_in_one_line():
    assert toy().deviations(toy_config(scale="smoke")) == [
        "not compared at scale smoke: the spec states no settings for it (a plumbing run)"]
    assert toy().deviations(toy_config(scale="full")) == ["not compared at scale full: the spec states no settings for it"]


def test_smoke_cannot_have_a_reference():
    with pytest.raises(ValueError, match="smoke"):
        toy({"smoke": {"window": 1}})


def test_root_keys_and_list_indices():
    exp = toy({"mini": {"/vision.image_size": 64, "tasks.0.n": 20, "tasks.1.n": 5}})
    cfg = toy_config(tasks=[{"n": 20}, {"n": 100}])
    assert exp.deviations(cfg) == ["vision.image_size = 32 (spec mini: 64)", "tasks.1.n = 100 (spec mini: 5)"]
    with pytest.raises(ConfigError, match=r"experiments\.toy\.tasks\.2\.n"):
        toy({"mini": {"tasks.2.n": 1}}).deviations(cfg)


@pytest.mark.parametrize("value, spec, holds", [
    (3, Within(2, 4), True), (5, Within(2, 4), False), ([2, 4], Within(2, 4), True),
    (8000, Within(lo=8000), True), (4000, Within(lo=8000), False), ("x", Within(0, 1), False),
    ([16, 32, 512], Span(16, 512), True), ([16, 32, 256], Span(16, 512), False),
    (2048, Span(hi=2048), True), (128, Span(hi=2048), False), ([], Span(hi=1), False),
    ([16, 8, 32, 4], Contains(8, 16, 32), True), ([4, 8], Contains(8, 16, 32), False),
    (["a", "b"], Contains("b"), True), ([{"n": 1}, {"n": 2}], Contains({"n": 2}), True),
    (True, 1, False), (1, True, False), (False, False, True), (None, None, True), ([4, 8], [4, 8], True),
    ([8, 4], [4, 8], False), ({"a": 1}, {"a": 1.0}, True), ({"a": 1}, {"a": 1, "b": 2}, False),
    ("all", "decoder", False),
])
def test_reference_forms(value, spec, holds):
    assert matches(value, spec) is holds


def test_rendered_values_read_like_the_config():
    assert [show(v) for v in (True, None, [4, 8], {"a": 1}, 0.5, "all")] == [
        "true", "null", "[4, 8]", "{a: 1}", "0.5", "all"]
    assert [str(s) for s in (Within(2, 4), Within(lo=8000), Span(16, 512), Span(hi=2048), Contains(8, 16))] == [
        "2-4", ">= 8000", "16 to 512", "up to 2048", "includes 8, 16"]
    cfg = toy_config(window=[4, 8])
    exp = toy({"mini": {"window": Contains(8, 16, 32), "model.n_layer": Within(4, 6)}})
    assert exp.deviations(cfg) == ["window = [4, 8] (spec mini: includes 8, 16, 32)",
                                   "model.n_layer = 2 (spec mini: 4-6)"]


# --- set_after_results ----------------------------------------------------------------------------


def test_set_after_results_renders_its_reason_once_per_key():
    cfg = toy_config(set_after_results={
        "train.lr": {"value": 0.01, "reason": "retuned until the effect appeared; was 0.003"},
        "model.n_embd": {"value": 32, "reason": "the spec's width did not fit the budget"},
    })
    assert toy().deviations(cfg) == [
        # a reference key that was also set after results: one line with both
        "model.n_embd = 32 (spec mini: 64); set after seeing results: the spec's width did not fit the budget",
        # a key the spec does not state
        "train.lr = 0.01; set after seeing results: retuned until the effect appeared; was 0.003",
    ]


def test_keys_set_after_results_for_one_reason_share_one_line_at_the_first_ones_place():
    why = "one choice, two keys"
    cfg = toy_config(set_after_results={
        "model.n_embd": {"value": 32, "reason": why}, "train.lr": {"value": 0.01, "reason": "other"},
        "model.n_layer": {"value": 2, "reason": why}})
    cfg["experiments"]["toy"]["window"] = 16
    assert toy().deviations(cfg) == [
        f"model.n_embd = 32 (spec mini: 64), model.n_layer = 2; set after seeing results: {why}",
        "window = 16 (spec mini: 32)",  # no reason: in the reference's order, not moved
        "train.lr = 0.01; set after seeing results: other",
    ]


def test_set_after_results_is_dropped_when_a_later_layer_changed_the_value():
    cfg = toy_config(set_after_results={"train.lr": {"value": 0.01, "reason": "retuned"}})
    cfg["experiments"]["toy"]["train"]["lr"] = 0.0006  # e.g. full.yaml over the mini config
    assert toy().deviations(cfg) == ["model.n_embd = 32 (spec mini: 64)"]
    # at a scale without a reference the entries still show
    smoke = toy_config(scale="smoke", set_after_results={"/vision.image_size": {"value": 32, "reason": "r"}})
    assert toy().deviations(smoke)[1:] == ["vision.image_size = 32; set after seeing results: r"]


def test_a_set_after_results_key_missing_from_the_block_names_both_keys():
    cfg = toy_config(set_after_results={"train.lrr": {"value": 0.01, "reason": "typo"}})
    with pytest.raises(ConfigError, match=r"experiments\.toy\.set_after_results names experiments\.toy\.train\.lrr"):
        toy().deviations(cfg)


def test_the_cross_key_check_runs_at_parse_time(config):
    registry.check(config)  # every reference and set_after_results key of the fixture exists
    config["experiments"]["attention_sinks"]["set_after_results"] = {
        "train.learning_rate": {"value": 0.01, "reason": "retuned"}}
    with pytest.raises(ConfigError, match=r"experiments\.attention_sinks\.set_after_results names "
                                          r"experiments\.attention_sinks\.train\.learning_rate"):
        registry.check(config)


def test_the_schema_types_set_after_results(config):
    config["experiments"]["moh"]["set_after_results"] = {"train.lr": {"value": 0.003, "reason": "tuned"},
                                                         "/vision.sampling.steps": {"value": 12, "reason": "r"}}
    validate_config(config, SCHEMA)
    config["experiments"]["moh"]["set_after_results"] = {"train.lr": {"value": 0.003}}
    with pytest.raises(ConfigError, match=r"experiments\.moh\.set_after_results\.train\.lr: 'reason' is a required"):
        validate_config(config, SCHEMA)
    config["experiments"]["moh"]["set_after_results"] = {"Train LR": {"value": 0.003, "reason": "r"}}
    with pytest.raises(ConfigError, match=r"experiments\.moh\.set_after_results"):
        validate_config(config, SCHEMA)


# --- the registered experiments on the frozen mini config ------------------------------------------


def test_every_experiment_has_a_mini_reference_and_only_known_scales():
    for exp in registry.REGISTRY.values():
        assert exp.reference.get("mini"), exp.id
        assert set(exp.reference) <= {"mini", "full"}, exp.id


def test_the_mini_config_deviates_where_the_issue_says(config):
    devs = {e.id: e.deviations(config) for e in registry.REGISTRY.values()}
    assert devs["dynamic_mask"] and devs["meta_tokens"]
    assert "window = 16 (spec mini: 32)" in devs["dynamic_mask"]
    assert "train_len = 64 (spec mini: 128)" in devs["meta_tokens"]
    assert "d_ks = [16, 32, 64, 128, 256] (spec mini: 16 to 512)" in devs["pavlov"]
    assert "heads = 128 (spec mini: up to 2048)" in devs["random_features"]
    assert "train.steps = 500 (spec mini: 3000)" in devs["retrieval_heads"]
    for exp in ("ir_diffusion", "mucr", "envision"):
        assert devs[exp] == ["layers = all (spec mini: decoder)", "ref_bias = 3.0 (spec mini: 0.0)"]


def test_common_params_carry_the_deviations_to_evaluate_and_table_steps(config):
    exp = registry.REGISTRY["meta_tokens"]
    steps = {s.name: s for s in exp.steps(exp.context(config))}
    for name in ("evaluate", "table"):
        assert steps[name].params_for({})["deviations"] == exp.deviations(config)


# --- the table notes -----------------------------------------------------------------------------


def test_deviation_notes_one_per_line_or_none():
    assert deviation_notes({"deviations": []}) == ["Deviations from the spec: none."]
    assert deviation_notes({"deviations": ["a = 1 (spec mini: 2)", "b = 3; set after seeing results: r"]}) == [
        "Deviations from the spec: a = 1 (spec mini: 2).", "Deviations from the spec: b = 3; set after seeing results: r."]
    with pytest.raises(Exception, match="deviations"):
        deviation_notes({"scale": "mini"})


def test_write_paper_table_ends_its_notes_with_the_deviations(tmp_path):
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"claims": [], "provenance": {"git_commit": "abc123"}}))
    out = {f: [str(tmp_path / f"t.{f}")] for f in ("md", "csv", "tex", "html")}
    params = {"scale": "mini", "seeds": [0], "deviations": ["window = 16 (spec mini: 32)"]}
    args = StepArgs(inputs={"claims": [str(claims)]}, outputs=out, params=params)
    write_paper_table(args, pd.DataFrame({"a": [1]}), title="T", notes=["First note."])
    notes = [ln for ln in (tmp_path / "t.md").read_text().splitlines() if ln.startswith("- ")][:2]
    assert notes == ["- First note.", "- Deviations from the spec: window = 16 (spec mini: 32)."]
    assert "% Deviations from the spec: window = 16 (spec mini: 32)." in (tmp_path / "t.tex").read_text()
    assert "<li>Deviations from the spec: window = 16 (spec mini: 32).</li>" in (tmp_path / "t.html").read_text()
