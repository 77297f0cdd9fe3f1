"""Every experiment the workflow runs, one line each. Read at parse time (no torch import).

Adding an experiment: write its package with an `EXPERIMENT` record in its plan.py
(attnlab.experiment), add its schema and config blocks, and add its plan module below.
"""

from __future__ import annotations

import importlib

from attnlab.experiment import Experiment

PLANS = [
    "attnlab.ocr.plan",
    "attnlab.icl_regression.plan",
    "attnlab.moh.plan",
    "attnlab.dynamic_mask.plan",
    "attnlab.meta_tokens.plan",
    "attnlab.retrieval_heads.plan",
    "attnlab.attention_sinks.plan",
    "attnlab.pavlov.plan",
    "attnlab.random_features.plan",
]

REGISTRY: dict[str, Experiment] = {}
for _plan in PLANS:
    _exp = importlib.import_module(_plan).EXPERIMENT
    if _exp.id in REGISTRY:
        raise ValueError(f"experiment {_exp.id!r} registered twice ({_plan})")
    REGISTRY[_exp.id] = _exp
