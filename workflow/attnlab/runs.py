"""The run-evaluation kit: what every evaluate step does before its own metrics.

- `iter_runs(manifest)` walks the trained runs of a manifest (entries with `model_dir`), each
  through the one run-directory check (attnlab.rundir.check_run_dir), with its config, its train
  log and, optionally, its evaluation data read once per file;
- `gather_frames(manifest, names)` concatenates the per-run Parquet outputs of an analysis step
  (heads, ablation, ...), tagged with the manifest keys that tell the runs apart;
- `per_seed(frame, col, **match)` and `seed_values_text` turn a metrics frame into the
  {seed_index: value} maps and "0.91/0.88" strings that claim rows carry;
- `write_evaluation` writes the step's frames and its claims file with provenance.

Claim rows are built with attnlab.claims.ClaimSet; paper tables are written with
attnlab.tables.write_paper_table. This module imports no torch: steps load their own models from
`run.dir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from attnlab import AttnlabError
from attnlab.io import read_parquet, write_parquet
from attnlab.rundir import CONFIG, TRAIN_LOG, WEIGHTS, check_run_dir, read_config, read_train_log


@dataclass
class Run:
    """One trained run of a manifest: its entry, its checked directory, config and train log."""

    item: dict
    dir: Path
    config: dict
    log: list[dict]
    data: Any = field(default=None, repr=False)

    @property
    def last_log(self) -> dict:
        """The last train-log record ({} when the run logged nothing)."""
        return self.log[-1] if self.log else {}

    @property
    def final_train_loss(self) -> float | None:
        return self.last_log.get("loss")

    @property
    def train_wall_s(self) -> float | None:
        return self.last_log.get("wall_time_s")

    def keys(self, *names: str) -> dict:
        """The manifest fields `names` of this run, in that order (the key columns of a metrics row)."""
        missing = [n for n in names if n not in self.item]
        if missing:
            raise AttnlabError(f"manifest entry for {self.dir} has no {', '.join(missing)}")
        return {n: self.item[n] for n in names}


def load_run(model_dir, weights: str | None = WEIGHTS) -> Run:
    """Check one run directory and read its config and train log (no weights are loaded)."""
    d = check_run_dir(model_dir, weights=weights)
    return Run(item={"model_dir": str(model_dir)}, dir=d, config=read_config(d / CONFIG),
               log=read_train_log(d / TRAIN_LOG))


def iter_runs(manifest: Iterable[dict], *, data: Callable[[Any], Any] | None = None,
              data_columns: Sequence[str] | None = None, weights: str | None = WEIGHTS) -> Iterator[Run]:
    """Each run of `manifest` in order. Every run directory is checked before the first is
    yielded, so a bad run fails the step before any evaluation time is spent.

    With `data`, `run.data` is `data(frame)` for the Parquet file `item["data"]` (which must hold
    `data_columns`), read and transformed once per file and shared by the runs that name it."""
    runs = []
    for item in manifest:
        if "model_dir" not in item:
            raise AttnlabError(f"manifest entry has no model_dir: {item}")
        if data is not None and "data" not in item:
            raise AttnlabError(f"manifest entry for {item['model_dir']} has no data file")
        run = load_run(item["model_dir"], weights=weights)
        run.item = item
        runs.append(run)
    cache: dict[str, Any] = {}
    for run in runs:
        if data is not None:
            path = run.item["data"]
            if path not in cache:
                cache[path] = data(read_parquet(path, data_columns))
            run.data = cache[path]
        yield run


def write_evaluation(args, experiment: str, claims: list[dict], frames: Mapping[str, Any], *, started: float,
                     work_s: float = 0.0) -> None:
    """An evaluate step's outputs: each frame to the Parquet output of its name, in order, then the
    claims file (output `claims`) with its provenance; the wall time recorded is `work_s` (the
    training or analysis time of the runs evaluated) plus this step's time since `started`
    (a time.perf_counter() value)."""
    import time

    from attnlab.claims import write_claims

    for name, frame in frames.items():
        write_parquet(args.output(name), frame)
    write_claims(args.output("claims"), experiment, claims, args.params, float(work_s) + time.perf_counter() - started)


def train_wall_s(manifest: Iterable[dict]) -> float:
    """Total training wall time of the manifest's runs (from each run's last train-log record)."""
    return sum(float(run.train_wall_s or 0.0) for run in iter_runs(manifest))


def gather_frames(manifest: Sequence[dict], names: Sequence[str], *, keys: Sequence[str],
                  first_seed_only: Sequence[str] = (),
                  columns: Mapping[str, Sequence[str]] | None = None) -> dict:
    """{name: one frame} from the Parquet file `item[name]` of every manifest entry, each tagged
    with the entry's `keys` columns (appended in that order).

    Names in `first_seed_only` are read only for entries of the first entry's seed_index (large
    per-run outputs such as attention maps, shown for one seed). `columns[name]` lists the
    columns file `name` must hold."""
    import pandas as pd

    if not manifest:
        raise AttnlabError("no runs to gather (empty manifest)")
    columns = columns or {}
    first = manifest[0]["seed_index"]
    frames: dict[str, list] = {n: [] for n in names}
    for item in manifest:
        for n in names:
            if n in first_seed_only and item["seed_index"] != first:
                continue
            if n not in item:
                raise AttnlabError(f"manifest entry has no {n} file: {item}")
            frames[n].append(read_parquet(item[n], columns.get(n)).assign(**{k: item[k] for k in keys}))
    return {n: pd.concat(v, ignore_index=True) for n, v in frames.items()}


def per_seed(frame, col: str, **match) -> dict[int, float]:
    """{seed_index: frame[col]} over the rows where every `match` column equals its value,
    in seed order (one row per seed is expected)."""
    for k, v in match.items():
        frame = frame[frame[k] == v]
    frame = frame.sort_values("seed_index")
    return dict(zip(frame["seed_index"].astype(int), frame[col].astype(float)))


def seed_values_text(values: Mapping[int, float], seeds: Sequence[int] | None = None,
                     spec: str = ".2f") -> str:
    """'0.91/0.88/0.95': `values` (per seed) formatted with `spec`, in seed order."""
    seeds = sorted(values) if seeds is None else seeds
    return "/".join(format(values[s], spec) for s in seeds)


def analysis_inputs(args, data_columns: Sequence[str] = ("input_ids",)):
    """(model, frame) of a head-analysis step: input `model` is the config.json of one of our run
    directories or of any local Hugging Face causal LM (attnlab.heads.adapters.load_head_model,
    with params `token_offset`), input `data` a Parquet file of token sequences holding
    `data_columns`. The directory goes through the run-dir check first (config.json valid; the
    weights, when they are a model.safetensors, a readable safetensors file; no train log asked of
    an external model), and the data's token ids must fit the model's vocabulary."""
    from attnlab.heads.adapters import load_head_model

    model_dir = Path(args.input("model")).parent
    check_run_dir(model_dir, weights=WEIGHTS if (model_dir / WEIGHTS).is_file() else None, train_log=False)
    model = load_head_model(model_dir, token_offset=args.params.get("token_offset", 0))
    df = read_parquet(args.input("data"), data_columns)
    model.check_vocab(int(max(max(x) for x in df.input_ids)) + 1)
    return model, df
