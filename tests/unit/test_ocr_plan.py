"""OCR's plan: task ids, which runs each task trains, the competence bar's params and its spec reference."""

import copy

import yaml

from attnlab.ocr import plan

MINI = yaml.safe_load(open(plan.__file__.rsplit("/workflow/", 1)[0] + "/config/config.yaml"))


def cfg(**over) -> dict:
    c = copy.deepcopy(MINI["experiments"]["ocr"])
    c.update(over)
    return c


def test_task_ids_name_the_held_out_subjects_when_they_differ_from_the_trained_ones():
    assert plan.task_id({"n_pairs": 20, "train_subjects_per_pair": 5, "test_subjects_per_pair": 5}) == "n20m5"
    assert plan.task_id({"n_pairs": 20, "train_subjects_per_pair": 1, "test_subjects_per_pair": 5}) == "n20m1t5"
    assert plan.task_id({"n_pairs": 20, "train_subjects_per_pair": 1, "test_subjects_per_pair": 1}) == "n20m1"


def test_the_mini_config_runs_the_spec_task_first_and_the_one_training_subject_variant():
    c = cfg()
    assert list(plan.tasks(c)) == ["n20m5", "n20m1t5"]
    assert plan.primary_task(c) == "n20m5"
    # S = 20 pairs x (1 + 5) subjects, V = S + 2 relations + 2n answers
    assert plan.vocab_size(plan.tasks(c)["n20m1t5"]) == 120 + 2 + 40


def test_the_primary_task_trains_every_run_the_others_the_primary_optimizer_pair():
    c = cfg()
    assert set(plan.runs(c, "n20m5")) == {"factorized-d4-adam", "factorized-d8-adam", "factorized-d16-adam",
                                          "factorized-d32-adam", "combined-adam", "factorized-d16-gd",
                                          "combined-gd"}
    assert set(plan.runs(c, "n20m1t5")) == {"factorized-d16-adam", "combined-adam"}
    assert plan.runs(c) == plan.runs(c, "n20m5")
    items = plan.manifest(c, base_seed=1234)
    assert len(items) == (7 + 2) * c["seeds"]
    assert {i["run"] for i in items if i["task"] == "n20m1t5"} == {"factorized-d16-adam", "combined-adam"}


def test_evaluate_params_carry_the_bar_the_tasks_and_the_optimizers():
    p = plan.evaluate_params(cfg(), base_seed=1234)
    assert (p["train_loss_bar"], p["tasks"], p["optimizers"]) == (0.1, ["n20m5", "n20m1t5"], ["adam", "gd"])
    assert p["primary_task"] == "n20m5" and p["primary_optimizer"] == "adam"


def test_the_bar_is_a_spec_setting_the_variant_task_is_not_a_deviation():
    full = copy.deepcopy(MINI)
    assert plan.EXPERIMENT.deviations(full) == [] or all("tasks" not in d and "competence" not in d
                                                         for d in plan.EXPERIMENT.deviations(full))
    full["experiments"]["ocr"]["competence"]["train_loss"] = 0.5
    assert "competence.train_loss = 0.5 (spec mini: 0.1)" in plan.EXPERIMENT.deviations(full)
    full["experiments"]["ocr"]["tasks"] = full["experiments"]["ocr"]["tasks"][1:]  # the spec's task dropped
    assert any(d.startswith("tasks = ") for d in plan.EXPERIMENT.deviations(full))
