"""Bad input: a clear error naming the file, a non-zero exit, and nothing half-written."""

import contextlib
import io
import json
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

from attnlab.ocr.synth import synthesize
from attnlab.ocr.train import build_model

# runpy runs a module already imported here (attnlab.ocr.train above) as __main__: a fresh copy of
# the same code, which is what `python -m` runs
pytestmark = pytest.mark.filterwarnings("ignore:.*found in sys.modules after import of package:RuntimeWarning")


def step(module, *args) -> subprocess.CompletedProcess:
    """Run a step as `python -m module args...` does (its `__main__` block: run_step's parsing and
    error handling), in this process: a fresh process would pay ~8 s of imports per test. Its exit
    status and what it wrote to stderr."""
    err = io.StringIO()
    with mock.patch.object(sys, "argv", [module, *args]), contextlib.redirect_stderr(err):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return subprocess.CompletedProcess([module, *args], code, "", err.getvalue())


def files(d: Path):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.parquet"
    synthesize(3, 1, 1, seed=0).to_parquet(path)
    return path


TRAIN_PARAMS = {"run": {"parametrization": "combined", "head_dim": None, "optimizer": "adam", "lr": 0.01,
                        "steps": 5}, "vocab_size": 14, "init_std": 0.01, "log_every": 1, "seed": 1}


def test_truncated_parquet(tmp_path, data):
    data.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])
    run = tmp_path / "run"
    proc = step("attnlab.ocr.train", "--input", "data", str(data), "--output", "run_dir", str(run),
                "--params", json.dumps(TRAIN_PARAMS))
    assert proc.returncode == 2
    assert "corrupt or truncated Parquet file" in proc.stderr and str(data) in proc.stderr
    assert not run.exists() or files(run) == []


def evaluate(tmp_path, model_dir, data):
    manifest = [{"task": "t", "run": "combined-adam", "parametrization": "combined", "head_dim": None,
                 "optimizer": "adam", "seed_index": 0, "seed": 1, "model_dir": str(model_dir), "data": str(data)}]
    out = tmp_path / "out"
    proc = step("attnlab.ocr.evaluate", "--output", "metrics", str(out / "m.parquet"),
                "--output", "spectra", str(out / "s.parquet"), "--output", "claims", str(out / "c.json"),
                "--params", json.dumps({"manifest": manifest}))
    assert proc.returncode == 2, proc.stderr
    assert not out.exists() or files(out) == []
    return proc.stderr


def test_missing_model_directory(tmp_path, data):
    err = evaluate(tmp_path, tmp_path / "no-such-run", data)
    assert "missing model directory" in err and "no-such-run" in err


LOG = [{"step": 1, "loss": 2.5, "wall_time_s": 0.1}, {"step": 2, "loss": 2.25, "wall_time_s": 0.2}]


def ocr_run(tmp_path) -> Path:
    """A real (untrained) OCR run directory: config.json, model.safetensors, train_log.jsonl."""
    run = tmp_path / "run"
    model = build_model(14, {"parametrization": "combined", "head_dim": None}, 0.01, seed=0)
    model.save_pretrained(run)
    (run / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOG))
    return run


def named_error(stderr: str, path) -> str:
    """The one error line a user sees: `error: <file>: <what is wrong>`, no traceback."""
    assert "Traceback" not in stderr, stderr
    line = stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {path}: "), stderr
    return line[len(f"error: {path}: "):]


def test_good_run_evaluates(tmp_path, data):
    run = ocr_run(tmp_path)
    manifest = [{"task": "t", "run": "combined-adam", "parametrization": "combined", "head_dim": None,
                 "optimizer": "adam", "seed_index": 0, "seed": 1, "model_dir": str(run), "data": str(data)}]
    out = tmp_path / "out"
    proc = step("attnlab.ocr.evaluate", "--output", "metrics", str(out / "m.parquet"),
                "--output", "spectra", str(out / "s.parquet"), "--output", "claims", str(out / "c.json"),
                "--params", json.dumps({"manifest": manifest, "primary_task": "t", "head_dim": 8,
                                        "primary_optimizer": "adam", "scale": "test", "optimizers": ["adam"],
                                        "tasks": ["t"], "train_loss_bar": 0.1}))
    # the claims need a factorized run too: a named error, after the runs were read without one
    assert proc.returncode == 2 and "ocr claims need runs" in proc.stderr and "Traceback" not in proc.stderr


def test_truncated_config_json_is_named(tmp_path, data):
    run = ocr_run(tmp_path)
    cfg = run / "config.json"
    cfg.write_text(cfg.read_text()[:25])
    what = named_error(evaluate(tmp_path, run, data), cfg)
    assert what.startswith("not valid JSON, truncated or corrupt")


def test_config_json_that_is_not_an_object_is_named(tmp_path, data):
    run = ocr_run(tmp_path)
    (run / "config.json").write_text("[1, 2]")
    assert named_error(evaluate(tmp_path, run, data), run / "config.json") == "holds a JSON list, not an object"


def test_truncated_train_log_is_named_with_its_line(tmp_path, data):
    run = ocr_run(tmp_path)
    log = run / "train_log.jsonl"
    log.write_text(log.read_text()[:-12])  # killed while writing the second record
    what = named_error(evaluate(tmp_path, run, data), log)
    assert what.startswith("line 2 is not valid JSON")


def test_missing_train_log_is_named(tmp_path, data):
    run = ocr_run(tmp_path)
    (run / "train_log.jsonl").unlink()
    assert named_error(evaluate(tmp_path, run, data), run / "train_log.jsonl") == "missing train log"


def test_data_parquet_with_wrong_columns_is_named(tmp_path, data):
    import pandas as pd

    run = ocr_run(tmp_path)
    pd.read_parquet(data).drop(columns=["answer"]).rename(columns={"pair": "pairs"}).to_parquet(data)
    what = named_error(evaluate(tmp_path, run, data), data)
    assert what.startswith("missing columns pair, answer (it has ")


def test_table_step_on_metrics_with_wrong_columns_is_named(tmp_path):
    import pandas as pd

    metrics = tmp_path / "metrics.parquet"
    pd.DataFrame({"variant": ["mha"], "seed_index": [0], "val_loss": [1.0]}).to_parquet(metrics)
    out = tmp_path / "t"
    proc = step("attnlab.moh.table", "--input", "metrics", str(metrics), "--input", "load", str(metrics),
                "--input", "claims", str(tmp_path / "c.json"),
                *[a for f in ("md", "csv", "tex", "html") for a in ("--output", f, str(out / f"moh.{f}"))],
                "--output", "load_fig", str(out / "f.png"),
                "--params", json.dumps({"scale": "test", "seeds": [0], "model_note": "m", "task_notes": [],
                                        "tasks": ["t"]}))
    assert proc.returncode == 2
    assert named_error(proc.stderr, metrics).startswith("missing columns task, target_fraction, val_acc")
    assert not out.exists() or files(out) == []


def test_head_analysis_step_names_a_truncated_config(tmp_path, data):
    run = ocr_run(tmp_path)
    cfg = run / "config.json"
    cfg.write_text(cfg.read_text()[:10])
    proc = step("attnlab.heads.sink_step", "--input", "model", str(cfg), "--input", "data", str(data),
                *[a for n in ("heads", "samples", "secondary", "maps")
                  for a in ("--output", n, str(tmp_path / "h" / f"{n}.parquet"))],
                "--params", json.dumps({"T": 4, "epsilon": 0.3, "tau": 0.3, "min_queries": 1}))
    assert proc.returncode == 2
    assert named_error(proc.stderr, cfg).startswith("not valid JSON")
    assert not (tmp_path / "h").exists()


def test_checkpoint_that_is_not_safetensors_is_never_unpickled(tmp_path, data):
    run = ocr_run(tmp_path)
    sentinel = tmp_path / "unpickled"

    class Trap:  # unpickling this would create the sentinel file
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    torch.save({"w": Trap()}, run / "model.safetensors")
    err = evaluate(tmp_path, run, data)
    assert "not a safetensors checkpoint" in err and "model.safetensors" in err
    assert not sentinel.exists()
    # a pickle checkpoint under its usual name is not looked at either
    (run / "model.safetensors").rename(run / "pytorch_model.bin")
    err = evaluate(tmp_path, run, data)
    assert "missing checkpoint" in err and not sentinel.exists()
