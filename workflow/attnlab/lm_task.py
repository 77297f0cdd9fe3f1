"""One LM task experiment: the scaffolding that preplan_anchor, circuits, soft_injection and
retrieval_heads share (issue 16). Read at parse time (no torch import).

Per seed: synthetic data (a `train` split and one held-out split), one causal LM with standard
softmax attention trained on the train split (every seed of the configuration as one stack,
`experiment.lm_train_step`), one analysis job that loads the model by path (so it runs unchanged on
any local Hugging Face causal LM) and reads the held-out split; then one evaluate job over every
seed's analysis (claims) and the paper table. Paths, defined once:

    results/<exp>/data/{split}/seed{seed}.parquet          synth (split: train | <eval_split>)
    results/<exp>/runs/seed{seed}/                         train (config.json, model.safetensors, ...)
    results/<exp>/<analysis_dir>/seed{seed}/{name}.parquet analysis (one file per name in `outputs`)

An experiment's plan keeps what is its own (the task parts of `synth_params`, the model's vocabulary
and length, the analysis and claim params, the table's notes) and gets the rest here:

    LAYOUT = LMTask(EXP, outputs=("heads", "tokens"))
    def steps(ctx):
        return LAYOUT.steps(EXPERIMENT, ctx, synth_params=..., train_params=..., analysis=Analysis(...),
                            evaluate_params=..., metrics=METRICS, table_params=..., figures={...})
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from attnlab.experiment import (
    Context,
    Experiment,
    Step,
    claims_path,
    evaluate_step,
    lm_train_step,
    run_files,
    table_step,
)
from attnlab.seeds import derive_seed


@dataclass(frozen=True)
class Analysis:
    """The per-seed analysis step: `python -m <module>` with the model (config and weights) and the
    held-out split as inputs and `LMTask.outputs` as outputs. `params` is one dict for every seed or
    a function of the seed index."""

    module: str
    params: Mapping[str, Any] | Callable[[int], Mapping[str, Any]]
    name: str = "analyse"  # the step (rule `<exp>_<name>`)
    mem_mb: int = 2000
    runtime: int = 15


@dataclass(frozen=True)
class LMTask:
    """The layout of one LM task experiment (module docstring). `model_seed_tag` names the model's
    seed, derive_seed(base_seed, exp, model_seed_tag, seed index)."""

    exp: str
    outputs: tuple[str, ...]
    eval_split: str = "eval"
    analysis_dir: str = "analysis"  # also the evaluate step's input name for the analysis files
    model_seed_tag: str = "model"

    @property
    def results(self) -> str:
        return f"results/{self.exp}"

    @property
    def data(self) -> str:
        return self.results + "/data/{split}/seed{seed}.parquet"

    @property
    def run(self) -> str:
        return self.results + "/runs/seed{seed}"

    @property
    def analysis(self) -> str:
        return self.results + f"/{self.analysis_dir}/seed{{seed}}/{{name}}.parquet"

    def data_path(self, split: str, seed: int) -> str:
        return self.data.format(split=split, seed=seed)

    def run_dir(self, seed: int) -> str:
        return self.run.format(seed=seed)

    def analysis_path(self, seed: int, name: str) -> str:
        return self.analysis.format(seed=seed, name=name)

    def model_seed(self, base_seed: int, seed: int) -> int:
        return derive_seed(base_seed, self.exp, self.model_seed_tag, seed)

    def synth_seed(self, base_seed: int, split: str, seed: int) -> int:
        return derive_seed(base_seed, self.exp, split, seed)

    def train_params(self, cfg: dict, base_seed: int, seed: int, *, vocab_size: int, n_positions: int) -> dict:
        """`attnlab.train.lm` params: the block's `model` with the vocabulary and length the task needs,
        standard softmax attention, the block's `train`, the model's seed."""
        model = {**cfg["model"], "vocab_size": vocab_size, "n_positions": n_positions, "attention": "softmax",
                 "attention_options": {}}
        return {"model": model, "train": cfg["train"], "seed": self.model_seed(base_seed, seed)}

    def manifest(self, cfg: dict, base_seed: int) -> list[dict]:
        """One entry per seed: its index, model seed, run directory and analysis files."""
        return [{"seed_index": s, "seed": self.model_seed(base_seed, s), "model_dir": self.run_dir(s),
                 **{n: self.analysis_path(s, n) for n in self.outputs}} for s in range(cfg["seeds"])]

    def steps(self, experiment: Experiment, ctx: Context, *, synth_params: Callable[[dict, int, str, int], dict],
              train_params: Callable[[dict, int, int], dict], analysis: Analysis, evaluate_params: Mapping[str, Any],
              metrics: Mapping[str, str], table_params: Mapping[str, Any], figures: Mapping[str, str],
              train_priority: int | None = None) -> list[Step]:
        """synth, train, the analysis, evaluate, table. `synth_params(cfg, base_seed, split, seed)` and
        `train_params(cfg, base_seed, seed)` are the plan's; `metrics` names the evaluate step's files
        (the table reads every one of them, then the claims). `train_priority`: the training step's
        Snakemake priority (Step.priority; for a long stack, so that it does not start last)."""
        cfg, seed0 = ctx.cfg, ctx.base_seed
        man = self.manifest(cfg, seed0)
        params = analysis.params

        def analysis_inputs(w) -> dict:
            s = int(w["seed"])
            return {"model": f"{self.run_dir(s)}/config.json", "weights": f"{self.run_dir(s)}/model.safetensors",
                    "data": self.data_path(self.eval_split, s)}

        return [
            Step("synth", "attnlab.tasks.synth", "synth", output={"data": self.data},
                 constraints={"split": f"train|{self.eval_split}"},
                 params=lambda w: synth_params(cfg, seed0, w["split"], int(w["seed"]))),
            replace(lm_train_step(self.run, ctx.train_seeds, data=lambda w: self.data_path("train", int(w["seed"])),
                                  params=lambda w: train_params(cfg, seed0, int(w["seed"]))), priority=train_priority),
            Step(analysis.name, analysis.module, "analysis", mem_mb=analysis.mem_mb, runtime=analysis.runtime,
                 input=analysis_inputs, output={n: self.analysis.replace("{name}", n) for n in self.outputs},
                 params=(lambda w: params(int(w["seed"]))) if callable(params) else params,
                 mechanisms=("softmax",)),
            evaluate_step(experiment, ctx, output=metrics, params=evaluate_params, mechanisms=("softmax",),
                          input={self.analysis_dir: [m[n] for m in man for n in self.outputs],
                                 "models": [f for m in man for f in run_files(m["model_dir"])]}),
            table_step(experiment, ctx, input={**metrics, "claims": claims_path(self.exp)}, params=table_params,
                       figures=figures),
        ]


def model_note(cfg: dict) -> str:
    """The table's one-line description of the block's model and training."""
    m, t = cfg["model"], cfg["train"]
    return (f"{m['n_layer']} layers × {m['n_head']} heads, d={m['n_embd']}, {m.get('position_encoding', 'learned')} "
            f"positions, {t['steps']} steps × batch {t['batch_size']}, lr {t['lr']}")
