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
import attnlab.image_world.plan as image_world_plan
import attnlab.ir_diffusion.plan as ir_diffusion_plan
import attnlab.mucr.plan as mucr_plan
import attnlab.envision.plan as envision_plan
from attnlab.heads.external import external_models

try:
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    # heads.external_models: each model directory checked before any job starts
    EXTERNAL_MODELS = {m["name"]: m for m in external_models(config)}
except ConfigError as e:
    sys.stderr.write(f"attnlab: {e}\n")
    sys.exit(1)
try:  # local paths of the vision track: a Stable Diffusion directory, real MuCR / Envision files
    image_world_plan.check_model_path(config["vision"])
    mucr_plan.check_real_path(config["experiments"]["mucr"])
    envision_plan.check_real_path(config["experiments"]["envision"])
except ValueError as e:
    sys.stderr.write(f"attnlab: {e}\n")
    sys.exit(1)

EXPERIMENTS = enabled_experiments(config)
BASE_SEED = config["base_seed"]
VISION = config["vision"]
MODEL_DIR = image_world_plan.model_dir(VISION)


wildcard_constraints:
    task=r"n\d+m\d+",
    run=r"[a-z0-9-]+",
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
