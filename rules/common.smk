# Config validation, target lists, path helpers and code-version params.
import json
import shlex
import sys
from pathlib import Path

WORKFLOW_SRC = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, WORKFLOW_SRC)
# Jobs run `python -m attnlab...`: make the package importable in every environment
# (venv, --sdm conda, SLURM) without installing it.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(WORKFLOW_SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

from attnlab.codehash import code_version
from attnlab.config import (
    ConfigError,
    config_hash,
    enabled_experiments,
    validate_config,
)
import attnlab.ocr.plan as ocr_plan
import attnlab.icl_regression.plan as icl_regression_plan
import attnlab.pavlov.plan as pavlov_plan
import attnlab.random_features.plan as random_features_plan
import attnlab.moh.plan as moh_plan
import attnlab.dynamic_mask.plan as dynamic_mask_plan
import attnlab.meta_tokens.plan as meta_tokens_plan
import attnlab.retrieval_heads.plan as retrieval_heads_plan
import attnlab.attention_sinks.plan as attention_sinks_plan
import attnlab.vision.plan as vision_plan
import attnlab.image_world.plan as image_world_plan
import attnlab.ir_diffusion.plan as ir_diffusion_plan
import attnlab.mucr.plan as mucr_plan
import attnlab.envision.plan as envision_plan
from attnlab.heads.external import external_models
from attnlab.registry import REGISTRY

try:
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    # heads.external_models: each model directory checked before any job starts
    EXTERNAL_MODELS = {m["name"]: m for m in external_models(config)}
except ConfigError as e:
    sys.stderr.write(f"attnlab: {e}\n")
    sys.exit(1)
try:  # local paths of the vision track: a Stable Diffusion directory, real MuCR / Envision files
    vision_plan.check_model_path(config["vision"])
    mucr_plan.check_real_path(config["experiments"]["mucr"])
    envision_plan.check_real_path(config["experiments"]["envision"])
except ValueError as e:
    sys.stderr.write(f"attnlab: {e}\n")
    sys.exit(1)

EXPERIMENTS = enabled_experiments(config)
try:  # every record's cross-key constraints, before any job starts
    for _exp in EXPERIMENTS:
        if _exp in REGISTRY and REGISTRY[_exp].check:
            REGISTRY[_exp].check(REGISTRY[_exp].context(config))
except ConfigError as e:
    sys.stderr.write(f"attnlab: {e}\n")
    sys.exit(1)
BASE_SEED = config["base_seed"]
VISION = config["vision"]
MODEL_DIR = vision_plan.model_dir(VISION)


wildcard_constraints:
    seed=r"\d+",


def as_json(obj):
    """Params travel to steps as one JSON argument (quoted with :q in the shell command)."""
    return json.dumps(obj, sort_keys=True)


def exp_config(exp):
    return config["experiments"][exp]


def common_params(exp):
    """Params every experiment's evaluate/table steps share: scale, seeds, config hash."""
    cfg = exp_config(exp)
    return {
        "scale": config["scale"],
        "base_seed": BASE_SEED,
        "seeds": list(range(cfg["seeds"])),
        "config_hash": config_hash({"base_seed": BASE_SEED, exp: cfg}),
        "threads": config["threads"],
    }


def table_outputs(exp):
    return expand(
        "results/tables/{exp}.{ext}", exp=exp, ext=["md", "csv", "tex", "html"]
    )


FIGURES = {
    "ocr": ["spectra", "head_dim"],
    "icl_regression": ["mse", "heads"],
    "pavlov": ["capacity"],
    "random_features": ["mse"],
    "moh": ["load"],
    "dynamic_mask": ["accuracy"],
    "meta_tokens": ["accuracy"],
    "retrieval_heads": ["scores", "ablation", "maps"],
    "attention_sinks": ["sink_rate", "maps"],
    "image_world": ["samples"],
    "ir_diffusion": ["samples"],
    "mucr": ["samples"],
    "envision": ["samples", "scores"],
}


def final_outputs():
    targets = ["results/claims.md"]
    for exp in EXPERIMENTS:
        targets += table_outputs(exp)
        targets += expand("results/figures/{exp}_{fig}.png", exp=exp, fig=FIGURES[exp])
    for name in EXTERNAL_MODELS:
        targets += table_outputs(f"external_{name}")
        targets.append(f"results/figures/external_{name}_heads.png")
    return targets


def external_model_params(name):
    """Params of the table of a heads.external_models entry."""
    blocks = {e: exp_config(e) for e in ("retrieval_heads", "attention_sinks")}
    return {
        **EXTERNAL_MODELS[name],
        "scale": config["scale"],
        "config_hash": config_hash(
            {"base_seed": BASE_SEED, "model": EXTERNAL_MODELS[name], **blocks}
        ),
    }


# --- the experiment records, as rules (rules/experiments.smk) -------------------------------------

STEPS = [
    (e, step)
    for e in EXPERIMENTS
    if e in REGISTRY
    for step in REGISTRY[e].steps(REGISTRY[e].context(config))
]
STEP_SHELL = (
    "{params.prefix}python -m {params.module} {params.args}"
    " --params {params.json:q} > {log:q} 2>&1"
)


def cli_args(names):
    """The step's named inputs/outputs as `--input NAME PATH...` / `--output NAME PATH...`."""
    args = []
    for flag, files in names:
        for name, paths in files.items():
            paths = [paths] if isinstance(paths, str) else list(paths)
            args.append(" ".join([flag, name, *map(shlex.quote, paths)]))
    return " ".join(args)


def step_inputs(step):
    return lambda w: step.inputs_for(dict(w.items()))


def step_outputs(exp, step):
    out = {}
    for name, path in step.output.items():
        if name in step.directories:
            path = directory(path)
        if name in step.report:
            caption, label = step.report[name]
            path = report(path, caption=caption, category=exp, labels={"figure": label})
        out[name] = path
    return out


def step_params(exp, step):
    return {
        "module": step.module,
        "prefix": lambda w, resources: (
            f"python -m attnlab.gpuslots --gpus {resources.gpu} -- " if step.gpu else ""
        ),
        "json": lambda w: as_json(step.params_for(dict(w.items()))),
        "args": lambda w, input, output: cli_args(
            [
                ("--input", input),
                ("--output", output),
                ("--output", step.cli_outputs_for(dict(w.items()))),
            ]
        ),
        "code": code_version(step.module, *step.code),
    }
