"""Steps of `heads.external_models`: the retrieval-head and sink suites of retrieval_heads and
attention_sinks run on a user's local Hugging Face causal LM, and one table per model. Read at
parse time (no torch); each model directory is checked before any job starts."""

from __future__ import annotations

from attnlab.attention_sinks import plan as sinks_plan
from attnlab.config import config_hash
from attnlab.experiment import TABLE_FORMATS, Step
from attnlab.heads.external import external_models
from attnlab.retrieval_heads import plan as retrieval_plan

ROOT = "results/external_models/{ext}"
RETRIEVAL = {n: f"{ROOT}/retrieval/{n}.parquet" for n in retrieval_plan.HEADS_OUTPUTS}
SINKS = {n: f"{ROOT}/sinks/{n}.parquet" for n in sinks_plan.HEADS_OUTPUTS}


def table_params(config: dict, model: dict) -> dict:
    blocks = {e: config["experiments"][e] for e in ("retrieval_heads", "attention_sinks")}
    return {**model, "scale": config["scale"],
            "config_hash": config_hash({"base_seed": config["base_seed"], "model": model, **blocks})}


def steps(config: dict) -> list[Step]:
    models = {m["name"]: m for m in external_models(config)}
    if not models:
        return []
    exps, seed0 = config["experiments"], config["base_seed"]
    ext = {"ext": "|".join(sorted(models))}
    model_input = lambda w: f"{models[w['ext']]['path']}/config.json"  # noqa: E731
    offset = lambda w: {"token_offset": models[w["ext"]]["token_offset"]}  # noqa: E731
    table = {k: f"results/tables/external_{{ext}}.{k}" for k in TABLE_FORMATS}
    return [
        Step("retrieval", "attnlab.heads.retrieval_step", "analysis", mem_mb=16000, runtime=120, constraints=ext,
             input=lambda w: {"model": model_input(w), "data": retrieval_plan.data_path("test", 0)},
             output=RETRIEVAL,
             params=lambda w: {**retrieval_plan.heads_params(exps["retrieval_heads"], seed0, 0), **offset(w)}),
        Step("sinks", "attnlab.heads.sink_step", "analysis", mem_mb=16000, runtime=120, constraints=ext,
             input=lambda w: {"model": model_input(w), "data": sinks_plan.data_path("eval", 0)},
             output=SINKS, params=lambda w: {**sinks_plan.heads_params(exps["attention_sinks"]), **offset(w)}),
        Step("table", "attnlab.heads.external_table", "report", constraints=ext,
             input={"retrieval_heads": RETRIEVAL["heads"], "ablation": RETRIEVAL["ablation"],
                    "sink_heads": SINKS["heads"], "sink_samples": SINKS["samples"], "secondary": SINKS["secondary"]},
             output={**table, "fig": "results/figures/external_{ext}_heads.png"},
             report={"html": ("report/external_model_table.rst", {"model": "{ext}", "figure": "table"}),
                     "fig": ("report/external_model_heads.rst", {"model": "{ext}", "figure": "heads"})},
             params=lambda w: table_params(config, models[w["ext"]])),
    ]


def final_outputs(config: dict) -> list[str]:
    names = [m["name"] for m in external_models(config)]
    return [f"results/{kind}/external_{n}{suffix}" for n in names
            for kind, suffix in [*(("tables", f".{k}") for k in TABLE_FORMATS), ("figures", "_heads.png")]]
