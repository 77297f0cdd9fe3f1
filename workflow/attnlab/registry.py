"""Every experiment the workflow runs, one line each. Read at parse time (no torch import).

Adding an experiment: write its package with an `EXPERIMENT` record in its plan.py
(attnlab.experiment), add its schema and config blocks, and add its plan module to PLANS.
Step groups that serve several experiments (the vision track's model, heads.external_models)
are in SHARED: each maps the running config to its steps.
"""

from __future__ import annotations

import dataclasses
import importlib

from attnlab.experiment import Experiment, require
from attnlab.external_models import plan as external_plan
from attnlab.vision import plan as vision_plan

PLANS = [
    "attnlab.ocr.plan",
    "attnlab.icl_regression.plan",
    "attnlab.pavlov.plan",
    "attnlab.random_features.plan",
    "attnlab.moh.plan",
    "attnlab.dynamic_mask.plan",
    "attnlab.meta_tokens.plan",
    "attnlab.retrieval_heads.plan",
    "attnlab.attention_sinks.plan",
    "attnlab.image_world.plan",
    "attnlab.ir_diffusion.plan",
    "attnlab.mucr.plan",
    "attnlab.envision.plan",
    "attnlab.distributed_attention.plan",
    "attnlab.attention_costs.plan",
    "attnlab.cab.plan",
    "attnlab.pine.plan",
    "attnlab.multihop_mask.plan",
    "attnlab.superlinear.plan",
    "attnlab.grassmann.plan",
    "attnlab.alt_attention.plan",
    "attnlab.preplan_anchor.plan",
    "attnlab.circuits.plan",
    "attnlab.soft_injection.plan",
    "attnlab.vlm.plan",
    "attnlab.vit_heads.plan",
]

SHARED = {"vision": vision_plan.shared_steps, "external_models": external_plan.steps}
SHARED_CHECKS = [vision_plan.check]

REGISTRY: dict[str, Experiment] = {}
for _plan in PLANS:
    _exp = importlib.import_module(_plan).EXPERIMENT
    if _exp.id in REGISTRY:
        raise ValueError(f"experiment {_exp.id!r} registered twice ({_plan})")
    REGISTRY[_exp.id] = _exp


def check(config: dict) -> None:
    """Every cross-key constraint of the config (attnlab.config.ConfigError names the keys)."""
    for c in SHARED_CHECKS:
        c(config)
    for exp in REGISTRY.values():
        exp.check_deviations(config)  # reference and set_after_results keys exist
        if exp.check:
            exp.check(exp.context(config))
    require(not config.get("stack_variants", False) or config.get("stack_seeds", True),
            "stack_variants = true needs stack_seeds = true (variants join a stack of every seed)")
    processes = config.get("processes", 1)
    for exp_id, block in config["experiments"].items():
        batch = (block.get("train") or {}).get("batch_size") if isinstance(block, dict) else None
        if processes > 1 and batch is not None:
            require(batch % processes == 0, f"experiments.{exp_id}.train.batch_size = {batch} does not split over "
                    f"processes = {processes} (data-parallel training shares each global batch)")


# LM training steps: `processes` data-parallel processes per job (DDP under torchrun; 1: the stacked
# single-process engine)
DATA_PARALLEL_MODULES = ("attnlab.train.lm_stack",)


def data_parallel(step, config: dict):
    """`step`, asking for config `processes` tasks when it is an LM training step."""
    processes = config.get("processes", 1)
    if processes > 1 and step.module in DATA_PARALLEL_MODULES:
        return dataclasses.replace(step, tasks=processes)
    return step


def steps(config: dict) -> list[tuple[str, object]]:
    """(group id, Step) for every step of every registered experiment and shared group."""
    out = [(g, s) for g, fn in SHARED.items() for s in fn(config)]
    out += [(e.id, s) for e in REGISTRY.values() for s in e.steps(e.context(config))]
    return [(g, data_parallel(s, config)) for g, s in out]


def final_outputs(config: dict, enabled: list[str]) -> list[str]:
    return [f for e in enabled for f in REGISTRY[e].final_outputs()] + external_plan.final_outputs(config)
