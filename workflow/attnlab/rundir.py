"""Run directories and checkpoints: validated before anything is loaded; never unpickled.

A run directory (what a train step writes) holds `config.json` (a JSON object), `train_log.jsonl`
(one JSON object per line) and safetensors weights. `check_run_dir` is the one check every
consumer goes through; each problem is an AttnlabError that starts with the file it is about, so a
step prints `error: <file>: <what is wrong>` (attnlab.cli.run_step) instead of a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

from attnlab import AttnlabError

CONFIG = "config.json"
TRAIN_LOG = "train_log.jsonl"
WEIGHTS = "model.safetensors"


def check_safetensors(path) -> Path:
    """Fail clearly unless `path` is a readable safetensors file (never unpickle a checkpoint)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise AttnlabError(f"{path}: missing checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError, ValueError) as e:
        raise AttnlabError(f"{path}: not a safetensors checkpoint (refusing to load it): {e}") from None
    return path


def _json_problem(e: json.JSONDecodeError) -> str:
    return f"{e.msg} at line {e.lineno}, column {e.colno}"


def read_config(path) -> dict:
    """The JSON object in `path` (a run's config.json), or an AttnlabError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AttnlabError(f"{path}: missing (not a run directory without it)")
    try:
        cfg = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise AttnlabError(f"{path}: not a text file (corrupt config)") from None
    except json.JSONDecodeError as e:
        raise AttnlabError(f"{path}: not valid JSON, truncated or corrupt ({_json_problem(e)})") from None
    if not isinstance(cfg, dict):
        raise AttnlabError(f"{path}: holds a JSON {type(cfg).__name__}, not an object")
    return cfg


def read_train_log(path) -> list[dict]:
    """Every record of a train log (JSON lines); an AttnlabError names the file and the bad line.

    `path` is the log file or the run directory holding it. Blank lines are skipped; an empty log
    is an empty list (a run that logged nothing)."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAIN_LOG
    if not path.is_file():
        raise AttnlabError(f"{path}: missing train log")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise AttnlabError(f"{path}: not a text file (corrupt train log)") from None
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise AttnlabError(f"{path}: line {n} is not valid JSON, truncated or corrupt "
                               f"({_json_problem(e)})") from None
        if not isinstance(rec, dict):
            raise AttnlabError(f"{path}: line {n} holds a JSON {type(rec).__name__}, not an object")
        records.append(rec)
    return records


def check_run_dir(path, weights: str | None = WEIGHTS, train_log: bool = True) -> Path:
    """The one run-directory check: config.json a JSON object, train_log.jsonl (if `train_log`)
    with every line a JSON object, and `weights` (unless None) a readable safetensors file.

    Returns the directory. `weights=None, train_log=False` checks what any Hugging Face model
    directory has (an external model: possibly sharded weights, no train log)."""
    path = Path(path)
    if not path.is_dir():
        raise AttnlabError(f"{path}: missing model directory")
    if not (path / CONFIG).is_file():
        raise AttnlabError(f"{path}: not a model directory (no {CONFIG})")
    read_config(path / CONFIG)
    if train_log:
        read_train_log(path / TRAIN_LOG)
    if weights is not None:
        check_safetensors(path / weights)
    return path
