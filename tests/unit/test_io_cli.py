import json
import subprocess
import sys

import pandas as pd
import pytest

from attnlab import AttnlabError
from attnlab.cli import parse
from attnlab.io import atomic_dir, atomic_path, read_json, read_parquet, write_parquet


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_moves_files_only_on_success(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with atomic_dir(run) as tmp:
            (tmp / "model.safetensors").write_bytes(b"x")
            raise RuntimeError
    assert list(run.iterdir()) == []
    with atomic_dir(run) as tmp:
        (tmp / "model.safetensors").write_bytes(b"x")
        (tmp / "config.json").write_text("{}")
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "model.safetensors"]


def test_truncated_parquet_and_missing_files_name_the_file(tmp_path):
    path = tmp_path / "d.parquet"
    write_parquet(path, pd.DataFrame({"a": range(100)}))
    assert read_parquet(path).a.sum() == 4950
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(AttnlabError, match="d.parquet"):
        read_parquet(path)
    with pytest.raises(AttnlabError, match="nope.json: missing input file"):
        read_json(tmp_path / "nope.json")


def test_parquet_without_the_expected_columns_names_file_and_columns(tmp_path):
    path = tmp_path / "metrics.parquet"
    write_parquet(path, pd.DataFrame({"seed_index": [0, 1], "acc": [0.5, 0.7]}))
    assert list(read_parquet(path, ["acc"]).columns) == ["seed_index", "acc"]  # every column is read
    with pytest.raises(AttnlabError) as e:
        read_parquet(path, ["seed_index", "loss", "variant"])
    assert str(e.value) == f"{path}: missing columns loss, variant (it has seed_index, acc)"


def test_parquet_files_concatenate_in_order_and_none_is_an_error(tmp_path):
    from attnlab.io import read_parquets

    for i in range(2):
        write_parquet(tmp_path / f"{i}.parquet", pd.DataFrame({"x": [i, i + 10]}))
    df = read_parquets([tmp_path / "1.parquet", tmp_path / "0.parquet"], ["x"])
    assert df.x.tolist() == [1, 11, 0, 10] and df.index.tolist() == [0, 1, 2, 3]
    with pytest.raises(AttnlabError, match="no fits files to read"):
        read_parquets([], ["x"], "fits")


def test_truncated_json_names_the_file_and_the_place(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text('{"claims": [1, 2')
    with pytest.raises(AttnlabError) as e:
        read_json(path)
    assert str(e.value).startswith(f"{path}: corrupt JSON file") and "line 1, column" in str(e.value)


def test_parse_named_paths_and_params():
    args = parse(["--input", "runs", "a", "b", "--input", "data", "d", "--output", "md", "o.md",
                  "--params", json.dumps({"x": 1})])
    assert args.inputs == {"runs": ["a", "b"], "data": ["d"]}
    assert args.input("data") == "d" and args.output("md") == "o.md" and args.params == {"x": 1}
    with pytest.raises(AttnlabError):
        args.input("runs")


def test_step_with_missing_input_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "metrics.parquet"
    manifest = [{"task": "t", "run": "r", "parametrization": "combined", "head_dim": None,
                 "optimizer": "adam", "seed_index": 0, "seed": 1,
                 "model_dir": str(tmp_path / "no-such-run"), "data": str(tmp_path / "no.parquet")}]
    proc = subprocess.run(
        [sys.executable, "-m", "attnlab.ocr.evaluate", "--output", "metrics", str(out),
         "--output", "spectra", str(tmp_path / "s.parquet"), "--output", "claims", str(tmp_path / "c.json"),
         "--params", json.dumps({"manifest": manifest})],
        capture_output=True, text=True, env={"PYTHONPATH": "workflow", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    # every run directory is checked before any data is read: the first missing input is the run
    assert proc.stderr.startswith("error: ") and "no-such-run: missing model directory" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_ordinary_readable_files(tmp_path):
    import os

    from attnlab.io import write_text

    umask = os.umask(0)
    os.umask(umask)
    write_text(tmp_path / "t.md", "x")
    assert (tmp_path / "t.md").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_steps_default_to_one_thread():
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = "workflow"
    probe = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = '-m'; import attnlab, os; "
                            "print(os.environ.get('OMP_NUM_THREADS'))"], env=env, capture_output=True, text=True)
    assert probe.stdout.strip() == "1", probe.stderr


def test_run_step_names_a_file_it_cannot_open_and_keeps_tracebacks_for_bugs(tmp_path, capsys):
    from attnlab.cli import run_step

    missing = tmp_path / "no-such.txt"

    def opens_missing(args):
        open(missing).read()

    with pytest.raises(SystemExit) as e:
        run_step(opens_missing, [])
    assert e.value.code == 2
    assert capsys.readouterr().err == f"error: {missing}: No such file or directory\n"

    def named(args):
        raise AttnlabError(f"{missing}: holds a JSON list, not an object")

    with pytest.raises(SystemExit):
        run_step(named, [])
    assert capsys.readouterr().err == f"error: {missing}: holds a JSON list, not an object\n"

    def bug(args):
        raise KeyError("val_loss")

    with pytest.raises(KeyError):  # a bug is not dressed up as a user error
        run_step(bug, [])
