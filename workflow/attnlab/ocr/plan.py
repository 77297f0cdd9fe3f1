"""Which OCR jobs a config asks for, and the params each gets. Read by the Snakefile at parse
time (no torch import); the steps themselves never import it."""

from __future__ import annotations

from attnlab.experiment import (
    Contains,
    Context,
    Experiment,
    Step,
    claims_path,
    evaluate_step,
    keyname,
    manifest_inputs,
    require,
    stack_train_step,
    stacked_step,
    table_step,
)
from attnlab.ocr import PAPER, run_id
from attnlab.seeds import derive_seed

RESULTS = "results/ocr"


def task_id(task: dict) -> str:
    """`n20m5` (n pairs, m training subjects per pair, as many held out), `n20m1t5` (5 held out)."""
    n, m, t = task["n_pairs"], task["train_subjects_per_pair"], task["test_subjects_per_pair"]
    return f"n{n}m{m}" + ("" if t == m else f"t{t}")


TASK_ID = r"n\d+m\d+(?:t\d+)?"  # the task wildcard (task_id)


def tasks(cfg: dict) -> dict[str, dict]:
    return {task_id(t): t for t in cfg["tasks"]}


def primary_task(cfg: dict) -> str:
    return task_id(cfg["tasks"][0])


def runs(cfg: dict, task: str | None = None) -> dict[str, dict]:
    """Every (parametrization, head dim, optimizer) the config asks for, by a stable id.
    The first optimizer listed is the primary one: it alone gets the head-dimension sweep. The
    first task (the primary one, and `task=None`: every run of any task) gets every run; the other
    tasks get the primary optimizer's factorized model at `head_dim` and its combined model."""
    out = {}
    extra = task is not None and task != primary_task(cfg)
    for i, (opt, settings) in enumerate(cfg["optimizers"].items()):
        if extra and i > 0:
            break
        dims = sorted(set(cfg["head_dim_sweep"]) | {cfg["head_dim"]}) if i == 0 and not extra else [cfg["head_dim"]]
        for d in dims:
            out[run_id("factorized", opt, d)] = {"parametrization": "factorized", "head_dim": d,
                                             "optimizer": opt, **settings}
        out[run_id("combined", opt)] = {"parametrization": "combined", "head_dim": None,
                                  "optimizer": opt, **settings}
    return out


def primary_optimizer(cfg: dict) -> str:
    return next(iter(cfg["optimizers"]))


DATA = RESULTS + "/data/{task}/seed{seed}.parquet"
RUN = RESULTS + "/runs/{task}/{run}/seed{seed}"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "spectra")}


def data_path(task: str, seed: int) -> str:
    return DATA.format(task=task, seed=seed)


def run_dir(task: str, run: str, seed: int) -> str:
    return RUN.format(task=task, run=run, seed=seed)


def vocab_size(task: dict) -> int:
    n = task["n_pairs"]
    return n * (task["train_subjects_per_pair"] + task["test_subjects_per_pair"]) + 2 + 2 * n


def synth_params(cfg: dict, base_seed: int, task: str, seed: int) -> dict:
    return {**tasks(cfg)[task], "seed": derive_seed(base_seed, "ocr", task, "data", seed)}


def train_params(cfg: dict, base_seed: int, task: str, run: str, seed: int) -> dict:
    return {
        "run": runs(cfg)[run],
        "vocab_size": vocab_size(tasks(cfg)[task]),
        "init_std": cfg["init_std"],
        "log_every": cfg["log_every"],
        "seed": derive_seed(base_seed, "ocr", task, run, seed),
    }


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    """One entry per trained model: its keys, run directory and data file."""
    items = []
    for task in tasks(cfg):
        for run, spec in runs(cfg, task).items():
            for seed in range(cfg["seeds"]):
                items.append({
                    "task": task, "run": run, "parametrization": spec["parametrization"],
                    "head_dim": spec["head_dim"], "optimizer": spec["optimizer"],
                    "seed_index": seed, "seed": derive_seed(base_seed, "ocr", task, run, seed),
                    "model_dir": run_dir(task, run, seed), "data": data_path(task, seed),
                })
    return items


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {
        "manifest": manifest(cfg, base_seed),
        "primary_task": primary_task(cfg),
        "primary_optimizer": primary_optimizer(cfg),
        "head_dim": cfg["head_dim"],
        "small_head_dim": min(cfg["head_dim_sweep"]) if cfg["head_dim_sweep"] else None,
        "optimizers": list(cfg["optimizers"]),
        "tasks": list(tasks(cfg)),
        "train_loss_bar": cfg["competence"]["train_loss"],
    }


def table_params(cfg: dict) -> dict:
    notes = [f"{tid} (S={vocab_size(t) - 2 - 2 * t['n_pairs']} subjects, n={t['n_pairs']} pairs, "
             f"{t['train_subjects_per_pair']} train / {t['test_subjects_per_pair']} held-out "
             f"subjects per pair)" for tid, t in tasks(cfg).items()]
    return {
        "task_notes": notes,
        "primary_task": primary_task(cfg),
        "primary_optimizer": primary_optimizer(cfg),
        "head_dim": cfg["head_dim"],
    }


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    ids = [task_id(t) for t in ctx.cfg["tasks"]]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    require(not dup, f"{keyname('ocr', 'tasks')}: tasks {dup} share n_pairs, train_subjects_per_pair and "
            "test_subjects_per_pair "
            "(their outputs would overwrite each other)")


def train_step(ctx: Context) -> Step:
    """Every seed of one (task, run) as one stack; with `stack_variants`, every (task, run) too, in one job."""
    cfg, seed0 = ctx.cfg, ctx.base_seed
    step = stack_train_step("attnlab.ocr.train", RUN, ctx.train_seeds, mem_mb=2000, runtime=30,
                            data=lambda w: data_path(w["task"], int(w["seed"])),
                            params=lambda w: train_params(cfg, seed0, w["task"], w["run"], int(w["seed"])),
                            constraints={"task": TASK_ID, "run": "[a-z0-9-]+"})
    if not ctx.stacks_variants:
        return step
    return stacked_step(step, [{"task": t, "run": r} for t in tasks(cfg) for r in runs(cfg, t)])


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    task = {"task": TASK_ID}
    return [
        Step("synth", "attnlab.ocr.synth", "synth", output={"data": DATA}, constraints=task,
             params=lambda w: synth_params(cfg, seed0, w["task"], int(w["seed"]))),
        train_step(ctx),
        evaluate_step(EXPERIMENT, ctx, input=manifest_inputs(manifest(cfg, seed0)), output=METRICS,
                      params=evaluate_params(cfg, seed0)),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path("ocr")}, params=table_params(cfg),
                   figures={"spectra": "W_OV spectrum", "head_dim": "head-dim sweep"}),
    ]


# The spec's settings (shared/papers/ocr.md): "Mini: S=200, n=20, half/half" (20 pairs x (5 train +
# 5 held-out) subjects), "d_h = 16", "Adam 1e-2, ~1.5k full-batch steps"; "Full: n in {20, 100},
# training subjects per pair m in {1, 2, 5}" (held-out half/half as in the task). Mini runs the spec's
# task first (the primary task) and may add variants (the one-training-subject one: issue 13).
# Competence: the spec's "zero train loss" (factorized and combined alike) read as a final train
# cross-entropy of at most 0.1 nats on every training fact and implication; fixed before any claim
# seed ran (bench/README.md, "OCR").
_OCR_MODEL = {"head_dim": 16, "optimizers.adam.lr": 0.01, "optimizers.adam.steps": 1500,
              "competence.train_loss": 0.1}
REFERENCE = {
    "mini": {**_OCR_MODEL, "tasks": Contains({"n_pairs": 20, "train_subjects_per_pair": 5, "test_subjects_per_pair": 5})},
    "full": {**_OCR_MODEL, "tasks": Contains(*({"n_pairs": n, "train_subjects_per_pair": m, "test_subjects_per_pair": m}
                                              for n in (20, 100) for m in (1, 2, 5)))},
}

EXPERIMENT = Experiment(id="ocr", paper=PAPER, steps=steps, figures=("spectra", "head_dim"), check=check,
                        reference=REFERENCE)
