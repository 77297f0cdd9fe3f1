"""The run-evaluation kit (attnlab.runs, the run-dir check, the paper-table helpers) on hand-made
run directories and frames with known answers."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

from attnlab import AttnlabError
from attnlab.cli import StepArgs
from attnlab.io import write_parquet
from attnlab.rundir import check_run_dir, read_config, read_train_log
from attnlab.runs import gather_frames, iter_runs, load_run, per_seed, seed_values_text, train_wall_s
from attnlab.tables import mean_sd_columns, per_seed_cell, scale_note, write_paper_table


def make_run(d: Path, log: list[dict], config: dict | None = None, weights: bool = True) -> Path:
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config or {"model_type": "toy", "n_layer": 1}))
    (d / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    if weights:
        save_file({"w": np.ones((2, 2), dtype=np.float32)}, str(d / "model.safetensors"))
    return d


LOG = [{"step": 10, "loss": 1.5, "wall_time_s": 2.0}, {"step": 20, "loss": 0.75, "wall_time_s": 4.5}]


# --- the one run-dir check -----------------------------------------------------------------------


def test_check_run_dir_accepts_a_complete_run_and_reads_config_and_log(tmp_path):
    run = make_run(tmp_path / "r", LOG, {"model_type": "toy", "n_head": 2})
    assert check_run_dir(run) == run
    assert read_config(run / "config.json") == {"model_type": "toy", "n_head": 2}
    assert read_train_log(run) == LOG == read_train_log(run / "train_log.jsonl")


@pytest.mark.parametrize("break_it, file, what", [
    (lambda r: (r / "config.json").write_text('{"model_type": "to'), "config.json", "not valid JSON"),
    (lambda r: (r / "config.json").write_text('"toy"'), "config.json", "holds a JSON str, not an object"),
    (lambda r: (r / "config.json").write_bytes(b"\xff\xfe\x00"), "config.json", "not a text file"),
    (lambda r: (r / "train_log.jsonl").write_text(json.dumps(LOG[0]) + '\n{"step": 2'), "train_log.jsonl",
     "line 2 is not valid JSON"),
    (lambda r: (r / "train_log.jsonl").write_text("[1]\n"), "train_log.jsonl", "line 1 holds a JSON list"),
    (lambda r: (r / "train_log.jsonl").unlink(), "train_log.jsonl", "missing train log"),
    (lambda r: (r / "model.safetensors").write_bytes(b"\x00" * 16), "model.safetensors",
     "not a safetensors checkpoint"),
    (lambda r: (r / "model.safetensors").unlink(), "model.safetensors", "missing checkpoint"),
])
def test_each_bad_file_is_named_first(tmp_path, break_it, file, what):
    run = make_run(tmp_path / "r", LOG)
    break_it(run)
    with pytest.raises(AttnlabError) as e:
        check_run_dir(run)
    assert str(e.value).startswith(f"{run / file}: {what}")


def test_missing_directory_and_missing_config_are_named(tmp_path):
    with pytest.raises(AttnlabError, match=r"nope: missing model directory$"):
        check_run_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AttnlabError, match=r"empty: not a model directory \(no config.json\)"):
        check_run_dir(tmp_path / "empty")


def test_an_external_model_dir_needs_no_train_log_or_single_weights_file(tmp_path):
    d = make_run(tmp_path / "hf", [], weights=False)
    (d / "train_log.jsonl").unlink()
    (d / "model.safetensors.index.json").write_text("{}")  # sharded weights
    assert check_run_dir(d, weights=None, train_log=False) == d
    with pytest.raises(AttnlabError, match="missing train log"):
        check_run_dir(d, weights=None)


def test_blank_lines_are_skipped_and_an_empty_log_is_empty(tmp_path):
    run = make_run(tmp_path / "r", LOG)
    (run / "train_log.jsonl").write_text("\n" + json.dumps(LOG[0]) + "\n\n")
    assert read_train_log(run) == [LOG[0]]
    (run / "train_log.jsonl").write_text("")
    r = load_run(run)
    assert r.log == [] and r.last_log == {} and r.final_train_loss is None and r.train_wall_s is None


# --- iterating runs ------------------------------------------------------------------------------


def test_iter_runs_in_manifest_order_with_config_log_and_data_read_once(tmp_path):
    a = make_run(tmp_path / "a", LOG, {"model_type": "toy", "n_head": 1})
    b = make_run(tmp_path / "b", LOG[:1], {"model_type": "toy", "n_head": 2})
    data = tmp_path / "data.parquet"
    write_parquet(data, pd.DataFrame({"x": [1, 2, 3]}))
    calls = []

    def transform(df):
        calls.append(len(df))
        return df.x.sum()

    manifest = [{"variant": "v1", "seed_index": 0, "model_dir": str(a), "data": str(data)},
                {"variant": "v2", "seed_index": 1, "model_dir": str(b), "data": str(data)}]
    runs = list(iter_runs(manifest, data=transform, data_columns=["x"]))
    assert [r.dir for r in runs] == [a, b] and [r.item for r in runs] == manifest
    assert [r.config["n_head"] for r in runs] == [1, 2]
    assert [(r.final_train_loss, r.train_wall_s) for r in runs] == [(0.75, 4.5), (1.5, 2.0)]
    assert [r.data for r in runs] == [6, 6] and calls == [3]  # one file: read and transformed once
    assert runs[1].keys("seed_index", "variant") == {"seed_index": 1, "variant": "v2"}
    with pytest.raises(AttnlabError, match="has no task"):
        runs[0].keys("variant", "task")
    assert train_wall_s(manifest) == 6.5


def test_every_run_is_checked_before_the_first_is_yielded(tmp_path):
    good = make_run(tmp_path / "good", LOG)
    bad = make_run(tmp_path / "bad", LOG)
    (bad / "config.json").write_text("{")
    it = iter_runs([{"model_dir": str(good)}, {"model_dir": str(bad)}])
    with pytest.raises(AttnlabError, match="bad/config.json: not valid JSON"):
        next(it)


def test_data_with_the_wrong_columns_or_no_data_entry_is_named(tmp_path):
    run = make_run(tmp_path / "r", LOG)
    data = tmp_path / "d.parquet"
    write_parquet(data, pd.DataFrame({"y": [1]}))
    with pytest.raises(AttnlabError, match=r"d.parquet: missing columns x \(it has y\)"):
        list(iter_runs([{"model_dir": str(run), "data": str(data)}], data=len, data_columns=["x"]))
    with pytest.raises(AttnlabError, match="has no data file"):
        list(iter_runs([{"model_dir": str(run)}], data=len))
    with pytest.raises(AttnlabError, match="has no model_dir"):
        list(iter_runs([{"data": str(data)}]))


def test_gather_frames_tags_rows_and_reads_first_seed_only_outputs_once(tmp_path):
    manifest = []
    for v in ("softmax", "sigmoid"):
        for s in (0, 1):
            item = {"variant": v, "seed_index": s}
            for name, val in (("heads", 10 * s), ("maps", 100 + s)):
                path = tmp_path / f"{name}-{v}-{s}.parquet"
                write_parquet(path, pd.DataFrame({"value": [val, val + 1]}))
                item[name] = str(path)
            manifest.append(item)
    frames = gather_frames(manifest, ["heads", "maps"], keys=("variant", "seed_index"), first_seed_only=("maps",),
                           columns={"heads": ["value"]})
    h, m = frames["heads"], frames["maps"]
    assert list(h.columns) == ["value", "variant", "seed_index"] and h.index.tolist() == list(range(8))
    assert h.value.tolist() == [0, 1, 10, 11, 0, 1, 10, 11]
    assert h.variant.tolist() == ["softmax"] * 4 + ["sigmoid"] * 4 and h.seed_index.tolist() == [0, 0, 1, 1] * 2
    assert m.value.tolist() == [100, 101, 100, 101] and set(m.seed_index) == {0}
    with pytest.raises(AttnlabError, match=r"heads-softmax-0.parquet: missing columns score"):
        gather_frames(manifest, ["heads"], keys=("seed_index",), columns={"heads": ["score"]})
    with pytest.raises(AttnlabError, match="empty manifest"):
        gather_frames([], ["heads"], keys=())


# --- per-seed values -----------------------------------------------------------------------------


def test_per_seed_selects_matching_rows_in_seed_order():
    m = pd.DataFrame({"variant": ["a", "b", "a", "a"], "length": [8, 8, 8, 16], "seed_index": [2, 0, 0, 1],
                      "acc": [0.25, 0.5, 0.125, 1.0]})
    assert per_seed(m, "acc", variant="a", length=8) == {0: 0.125, 2: 0.25}
    assert list(per_seed(m, "acc", variant="a")) == [0, 1, 2]
    assert per_seed(m, "acc", variant="z") == {}
    assert seed_values_text({2: 0.25, 0: 0.125}) == "0.12/0.25"
    assert seed_values_text({0: 0.5, 1: 0.25}, [1, 0], ".3f") == "0.250/0.500"
    assert seed_values_text({0: 0.1234}, spec=".1%") == f"{100 * 0.1234:.1f}%" == "12.3%"


# --- paper tables --------------------------------------------------------------------------------


def test_mean_sd_columns_and_per_seed_cell():
    g = pd.DataFrame({"seed_index": [1, 0, 2], "acc": [0.5, 0.25, 0.75], "top3_drop": [1.0, 3.0, 5.0]})
    assert mean_sd_columns(g, ["acc"]) == {"acc_mean": 0.5, "acc_sd": 0.25}
    assert list(mean_sd_columns(g, ("acc", "top3_drop"), sd="std")) == ["acc_mean", "acc_std", "top3_drop_mean",
                                                                      "top3_drop_std"]
    assert mean_sd_columns(g, {"top_drop": "top3_drop"}) == {"top_drop_mean": 3.0, "top_drop_sd": 2.0}
    assert per_seed_cell(g, "acc") == "0.25/0.50/0.75" and per_seed_cell(g, "acc", 1) == "0.2/0.5/0.8"


def test_write_paper_table_adds_scale_note_and_the_claims_provenance(tmp_path):
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"claims": [], "provenance": {"git_commit": "abc123", "scale": "smoke",
                                                               "seeds": [0, 1]}}))
    out = {f: [str(tmp_path / f"t.{f}")] for f in ("md", "csv", "tex", "html")}
    params = {"scale": "smoke", "seeds": [0, 1, 2], "deviations": []}
    args = StepArgs(inputs={"claims": [str(claims)]}, outputs=out, params=params)
    assert scale_note(params, "a 1-layer model") == "Scale smoke: a 1-layer model; mean ± sd over 3 seeds."
    display = pd.DataFrame({"variant": ["mha"], "acc": ["0.50 ± 0.25"]})
    write_paper_table(args, display, title="Toy table", numeric=pd.DataFrame({"acc_mean": [0.5]}),
                      scale="a 1-layer model", notes=["Second note."])
    md = (tmp_path / "t.md").read_text().splitlines()
    assert md[:6] == ["# Toy table", "", "| variant | acc |", "|---|---|", "| mha | 0.50 ± 0.25 |", ""]
    assert md[6:8] == ["- Scale smoke: a 1-layer model; mean ± sd over 3 seeds.", "- Second note."]
    assert "- git_commit: abc123" in md
    assert (tmp_path / "t.csv").read_text().endswith("acc_mean\n0.5\n")
    # no scale detail: only the given notes
    write_paper_table(args, display, title="Toy table", notes=["Only note."])
    assert [ln for ln in (tmp_path / "t.md").read_text().splitlines() if ln.startswith("- ")][0] == "- Only note."
    claims.write_text(json.dumps({"claims": []}))
    with pytest.raises(AttnlabError, match=r"claims.json: not a claims file \(no provenance\)"):
        write_paper_table(args, display, title="Toy table")
