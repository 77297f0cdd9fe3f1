"""The experiment contract: Step/Experiment records and the registry the rules loop over."""

import re
from pathlib import Path

import pytest

from attnlab import AttnlabError, registry
from attnlab.cli import StepArgs
from attnlab.config import ConfigError
from attnlab.experiment import (
    ENVS,
    Step,
    lm_train_step,
    stack_outputs,
    stack_runs,
    wildcards_of,
)
from tests.fixtures import load_config


def test_wildcards_of_a_template():
    assert wildcards_of("results/x/{task}/{run}/seed{seed}/a.parquet") == ["task", "run", "seed"]
    assert wildcards_of("results/{{literal}}/{seed}/{seed}") == ["seed"]
    assert wildcards_of("results/{name,[a-z]+}/x") == ["name"]


def test_log_and_benchmark_paths_carry_every_wildcard_of_the_outputs():
    step = Step("train", "attnlab.x", "train", output={"model": "results/x/{task}/seed{seed}/m.safetensors"})
    assert step.log_path("x") == "results/logs/x/train/{task}/{seed}.log"
    assert step.log_path("x", "benchmarks", "tsv") == "results/benchmarks/x/train/{task}/{seed}.tsv"
    table = Step("table", "attnlab.x.table", "report", output={"md": "results/tables/x.md"})
    assert table.log_path("x") == "results/logs/x/table.log"


def test_a_step_rejects_an_unknown_env_and_flags_on_missing_outputs():
    with pytest.raises(ValueError, match="env"):
        Step("s", "attnlab.x", "gpu_env", output={"a": "a"})
    with pytest.raises(ValueError, match="not outputs"):
        Step("s", "attnlab.x", "synth", output={"a": "a"}, directories=("b",))


def test_a_stack_has_every_seeds_run_files_and_keeps_the_other_wildcards():
    run = "results/e/runs/{task}/{variant}/seed{seed}"
    assert stack_runs(run, [0, 1]) == ["results/e/runs/{task}/{variant}/seed0", "results/e/runs/{task}/{variant}/seed1"]
    out = stack_outputs(run, [0, 1])
    assert list(out) == ["config", "train_log", "model"]
    assert out["model"] == [f"results/e/runs/{{task}}/{{variant}}/seed{s}/model.safetensors" for s in (0, 1)]


def test_lm_train_step_stacks_the_seeds_and_shares_every_other_setting():
    def params(w):
        return {"model": {"attention": "moh", "n_head": 4}, "train": {"steps": 3}, "seed": 100 + int(w["seed"])}

    step = lm_train_step("results/e/runs/{task}/seed{seed}", [0, 1, 2], data=lambda w: f"d/{w['task']}/{w['seed']}",
                         params=params)
    w = {"task": "t"}
    assert step.inputs_for(w) == {"data": ["d/t/0", "d/t/1", "d/t/2"]}
    assert step.params_for(w) == {"model": {"attention": "moh", "n_head": 4}, "train": {"steps": 3},
                                  "members": [{"seed": 100}, {"seed": 101}, {"seed": 102}]}
    assert step.cli_outputs_for(w) == {"run_dir": ["results/e/runs/t/seed0", "results/e/runs/t/seed1",
                                                   "results/e/runs/t/seed2"]}
    assert step.mechanisms_for(w) == ("moh",) and step.wildcards == ["task"]

    def differing(w):
        return {**params(w), "train": {"steps": int(w["seed"])}}

    bad = lm_train_step("results/e/runs/{task}/seed{seed}", [0, 1], data=lambda w: "d", params=differing)
    with pytest.raises(ValueError, match="share every setting"):
        bad.params_for(w)


def test_stacking_variants_puts_every_variant_and_seed_in_one_job_each_variant_its_own_stack():
    def params(w):
        return {"model": {"attention": {"a": "softmax", "b": "moh"}[w["variant"]]},
                "train": {"steps": 3 if w["variant"] == "a" else 4}, "seed": 10 * ord(w["variant"]) + int(w["seed"])}

    run = "results/e/runs/{task}/{variant}/seed{seed}"
    step = lm_train_step(run, [0, 1], data=lambda w: f"d/{w['task']}/{w['seed']}", params=params,
                         constraints={"task": "t", "variant": "a|b"}, stack_over={"variant": ["a", "b"]})
    w = {"task": "t"}
    assert step.wildcards == ["task"] and step.constraints == {"task": "t"}
    assert step.output["model"] == [f"results/e/runs/{{task}}/{v}/seed{s}/model.safetensors"
                                    for v in "ab" for s in (0, 1)]
    assert step.inputs_for(w) == {"data": ["d/t/0", "d/t/1", "d/t/0", "d/t/1"]}
    assert step.cli_outputs_for(w) == {"run_dir": [f"results/e/runs/t/{v}/seed{s}" for v in "ab" for s in (0, 1)]}
    assert step.mechanisms_for(w) == ("moh", "softmax") and step.runtime == 2 * 60
    # run_step runs lm_stack once per variant, each with exactly the params, data and run
    # directories of that variant's own job (schedules may differ between variants)
    one = lm_train_step(run, [0, 1], data=lambda w: f"d/{w['task']}/{w['seed']}", params=params,
                        constraints={"task": "t", "variant": "a|b"})
    members = StepArgs({k: list(v) for k, v in step.inputs_for(w).items()}, step.cli_outputs_for(w),
                       step.params_for(w)).split()
    for v, m in zip("ab", members):
        assert m.params == one.params_for({**w, "variant": v})
        assert m.inputs == one.inputs_for({**w, "variant": v})
        assert m.outputs == one.cli_outputs_for({**w, "variant": v})
    assert members[1].params["train"] == {"steps": 4}
    assert members[1].params["members"] == [{"seed": 980}, {"seed": 981}]


def test_a_stacked_step_runs_every_member_in_one_job_and_splits_back_into_each_members_args():
    from attnlab.cli import StepArgs
    from attnlab.experiment import Step, stacked_step

    one = Step("heads", "attnlab.heads.sink_step", "analysis", constraints={"variant": "a|b", "setting": "s"},
               input=lambda w: {"model": f"r/{w['variant']}/{w['seed']}/config.json", "data": f"d/{w['seed']}"},
               output={"heads": "h/{setting}/{variant}/seed{seed}.parquet"},
               params=lambda w: {"T": 8, "seed_index": int(w["seed"])},
               mechanisms=lambda w: ({"a": "softmax", "b": "sigmoid"}[w["variant"]],), runtime=5)
    step = stacked_step(one, {"variant": ["a", "b"], "seed": [0, 1]})
    w = {"setting": "s"}
    assert step.wildcards == ["setting"] and step.constraints == {"setting": "s"} and step.runtime == 20
    assert step.output["heads"] == [f"h/{{setting}}/{v}/seed{s}.parquet" for v in "ab" for s in (0, 1)]
    assert step.inputs_for(w) == {"model": [f"r/{v}/{s}/config.json" for v in "ab" for s in (0, 1)],
                                  "data": ["d/0", "d/1", "d/0", "d/1"]}
    assert step.params_for(w) == {"T": 8, "stacked": [{"seed_index": s} for _ in "ab" for s in (0, 1)]}
    assert step.mechanisms_for(w) == ("sigmoid", "softmax")
    args = StepArgs(step.inputs_for(w), {"heads": [o.format(**w) for o in step.output["heads"]]}, step.params_for(w))
    members = args.split()
    assert [m.input("model") for m in members] == step.inputs_for(w)["model"]
    assert members[3].output("heads") == "h/s/b/seed1.parquet" and members[3].input("data") == "d/1"
    assert members[3].params == {"T": 8, "seed_index": 1}  # what the unstacked job of that member gets
    assert members[3].params == one.params_for({**w, "variant": "b", "seed": "1"})
    plain = StepArgs({"model": ["m"]}, {"heads": ["h"]}, {"T": 8})
    assert plain.split() == [plain]
    with pytest.raises(AttnlabError, match="as many paths for every member"):
        StepArgs({"model": ["m1", "m2"]}, {"heads": ["h"]}, {"stacked": [{}, {}]}).split()


def test_stacking_listed_configurations_of_a_seed_stack_splits_back_into_each_seed_stack():
    """OCR's (task, run) stacks of seeds, all in one job (stack_variants): every member's params,
    inputs, outputs and run directories are its own unstacked job's."""
    from attnlab.cli import StepArgs
    from attnlab.experiment import stack_train_step, stacked_step

    def params(w):
        return {"run": {"lr": {"a": 1, "b": 2}[w["run"]]}, "seed": 10 * len(w["task"]) + int(w["seed"])}

    one = stack_train_step("attnlab.ocr.train", "r/{task}/{run}/seed{seed}", [0, 1], params=params,
                           data=lambda w: f"d/{w['task']}/{w['seed']}", constraints={"task": "t+", "run": "a|b"})
    combos = [{"task": "t", "run": "a"}, {"task": "t", "run": "b"}, {"task": "tt", "run": "a"}]
    step = stacked_step(one, combos)
    assert step.wildcards == [] and step.constraints == {}
    assert step.output["model"] == [f"r/{c['task']}/{c['run']}/seed{s}/model.safetensors" for c in combos for s in (0, 1)]
    args = StepArgs(step.inputs_for({}), {**step.cli_outputs_for({}), **step.output}, step.params_for({}))
    for c, member in zip(combos, args.split()):
        assert member.params == one.params_for(c) and member.inputs == one.inputs_for(c)
        assert member.outputs["run_dir"] == one.cli_outputs_for(c)["run_dir"]
        assert member.outputs["model"] == [f.format(**c) for f in one.output["model"]]


def test_stack_variants_needs_stack_seeds_and_is_off_by_default(config):
    from attnlab import registry
    from attnlab.config import ConfigError
    from attnlab.experiment import Context

    assert Context(config, "moh").stacked("variant", ["mha"]) is None
    assert Context({**config, "stack_variants": True}, "moh").stacked("variant", ["mha", "x"]) == {"variant": ["mha", "x"]}
    assert Context({**config, "stack_variants": True, "stack_seeds": False}, "moh").stacked("variant", ["mha"]) is None
    with pytest.raises(ConfigError, match="stack_variants = true needs stack_seeds = true"):
        registry.check({**config, "stack_variants": True, "stack_seeds": False})


def test_without_stacking_each_seed_is_its_own_job_with_a_stack_of_one():
    def params(w):
        return {"model": {"attention": "moh"}, "train": {"steps": 3}, "seed": 100 + int(w["seed"])}

    step = lm_train_step("results/e/runs/{task}/seed{seed}", None, data=lambda w: f"d/{w['task']}/{w['seed']}",
                         params=params)
    w = {"task": "t", "seed": "2"}
    assert step.wildcards == ["task", "seed"]
    assert step.inputs_for(w) == {"data": ["d/t/2"]}
    assert step.params_for(w) == {"model": {"attention": "moh"}, "train": {"steps": 3}, "members": [{"seed": 102}]}
    assert step.cli_outputs_for(w) == {"run_dir": ["results/e/runs/t/seed2"]}
    assert step.output["model"] == ["results/e/runs/{task}/seed{seed}/model.safetensors"]
    assert step.mechanisms_for(w) == ("moh",)


def test_stack_seeds_switches_every_training_step_between_one_job_and_one_per_seed(config):
    from attnlab.experiment import Context

    assert Context({**config, "stack_seeds": True}, "pine").train_seeds == Context(config, "pine").seeds
    assert Context({**config, "stack_seeds": False}, "pine").train_seeds is None
    unstacked = registry.REGISTRY["pine"].steps(Context({**config, "stack_seeds": False}, "pine"))
    assert "seed" in next(s for s in unstacked if s.name == "train").wildcards


@pytest.fixture
def config():
    return load_config()


def test_every_registered_step_is_a_well_formed_rule(config):
    steps = registry.steps(config)
    names = [f"{g}_{s.name}" for g, s in steps]
    assert len(names) == len(set(names)), "two steps would make rules of the same name"
    for group, step in steps:
        assert step.env in ENVS and re.fullmatch(r"attnlab(\.\w+)+", step.module)
        first = step.wildcards
        for name, paths in step.output.items():
            for path in [paths] if isinstance(paths, str) else paths:
                assert wildcards_of(path) == first, f"{group}_{step.name}: output {name} has other wildcards"


def test_every_record_lists_its_figures_in_its_table_step_and_final_outputs(config):
    for exp in registry.REGISTRY.values():
        table = next(s for s in exp.steps(exp.context(config)) if s.name == "table")
        figures = {p for k, p in table.output.items() if k.endswith("_fig")}
        assert figures == {f"results/figures/{exp.id}_{f}.png" for f in exp.figures}
        assert set(exp.final_outputs()) <= set(table.output.values())


def test_the_fixture_config_passes_every_cross_key_check(config):
    registry.check(config)


def test_a_cross_key_mistake_names_both_keys(config):
    config["experiments"]["moh"]["claim_fraction"] = 0.6
    with pytest.raises(ConfigError, match=r"experiments\.moh\.claim_fraction.*experiments\.moh\.active_fractions"):
        registry.check(config)


def test_vision_tables_hash_the_vision_block(config):
    exp = registry.REGISTRY["image_world"]
    before = exp.config_hash(config)
    config["vision"]["image_size"] = config["vision"]["image_size"] * 2
    assert exp.config_hash(config) != before
    moh = registry.REGISTRY["moh"]
    assert moh.config_hash(config) == moh.config_hash(load_config())


def test_every_report_caption_exists():
    """Each output marked for the report names a caption file under rules/ (snakemake --report fails late
    on a missing one, after the whole run)."""
    import yaml

    from attnlab.registry import steps
    from tests.fixtures import layer

    root = Path(__file__).resolve().parents[2]
    cfg = layer(yaml.safe_load((root / "config/config.yaml").read_text()),
                yaml.safe_load((root / "config/smoke.yaml").read_text()))
    missing = [cap for _, s in steps(cfg) for cap, _ in (s.report or {}).values() if not (root / "rules" / cap).exists()]
    assert not missing, f"report captions missing under rules/: {missing}"


def test_one_lm_task_layout_defines_paths_seeds_and_the_five_steps_once():
    """attnlab.lm_task: the scaffolding preplan_anchor, circuits, soft_injection and retrieval_heads share."""
    from attnlab.experiment import Experiment
    from attnlab.lm_task import Analysis, LMTask, model_note
    from attnlab.seeds import derive_seed

    lay = LMTask("toy", ("a", "b"), eval_split="test", analysis_dir="heads", model_seed_tag="train")
    assert lay.data_path("train", 2) == "results/toy/data/train/seed2.parquet"
    assert lay.run_dir(1) == "results/toy/runs/seed1"
    assert lay.analysis_path(0, "b") == "results/toy/heads/seed0/b.parquet"
    cfg = {"seeds": 2, "model": {"n_layer": 2, "n_head": 2, "n_embd": 8}, "train": {"steps": 3, "batch_size": 4,
                                                                                      "lr": 0.01}}
    man = lay.manifest(cfg, 7)
    assert [m["seed"] for m in man] == [derive_seed(7, "toy", "train", s) for s in (0, 1)]
    assert man[1]["a"] == "results/toy/heads/seed1/a.parquet" and man[1]["model_dir"] == "results/toy/runs/seed1"
    tp = lay.train_params(cfg, 7, 1, vocab_size=11, n_positions=5)
    assert tp["model"] == {"n_layer": 2, "n_head": 2, "n_embd": 8, "vocab_size": 11, "n_positions": 5,
                           "attention": "softmax", "attention_options": {}}
    assert tp["seed"] == man[1]["seed"] and lay.synth_seed(7, "test", 1) == derive_seed(7, "toy", "test", 1)
    assert model_note(cfg) == "2 layers × 2 heads, d=8, learned positions, 3 steps × batch 4, lr 0.01"

    config = {"base_seed": 7, "scale": "smoke", "threads": 1, "experiments": {"toy": cfg}}
    exp = Experiment(id="toy", paper="p", steps=lambda ctx: [], figures=("f",))
    steps = lay.steps(exp, exp.context(config), synth_params=lambda c, b, split, s: {"split": split, "s": s},
                      train_params=lambda c, b, s: lay.train_params(c, b, s, vocab_size=11, n_positions=5),
                      analysis=Analysis("attnlab.toy.heads", lambda s: {"s": s}, name="heads", mem_mb=3000),
                      evaluate_params={"e": 1}, metrics={"metrics": "results/toy/metrics/m.parquet"},
                      table_params={"t": 1}, figures={"f": "a figure"})
    synth, train, heads, evaluate, table = steps
    assert [s.name for s in steps] == ["synth", "train", "heads", "evaluate", "table"]
    assert synth.constraints == {"split": "train|test"} and synth.params_for({"split": "test", "seed": "1"}) == \
        {"split": "test", "s": 1}
    assert train.inputs_for({}) == {"data": [lay.data_path("train", s) for s in (0, 1)]}
    assert heads.inputs_for({"seed": "1"}) == {"model": "results/toy/runs/seed1/config.json",
                                               "weights": "results/toy/runs/seed1/model.safetensors",
                                               "data": "results/toy/data/test/seed1.parquet"}
    assert heads.params_for({"seed": "1"}) == {"s": 1} and heads.mem_mb == 3000
    assert list(evaluate.inputs_for({})) == ["heads", "models"] and len(evaluate.inputs_for({})["heads"]) == 4
    assert list(table.inputs_for({})) == ["metrics", "claims"]
