"""Envision-format four-stage process prompts from the world's rule families: synthesis and reading
(scoring generated frames against them is attnlab.world.envision_score).

Schema of one record (Envision's own, arXiv 2512.01816):
    {"index": int, "category": one of DOMAINS, "process_type": str,
     "prompts": [{"step": 1..4, "prompt": str, "explanation": str} x 4]}
Our prompts follow the paper's phrasing ("This is the 1th event frame of a continuous four-stage
event sequence showing ...") in lower-case VOCAB words without punctuation ("four stage"), so the
world's tokenizer reads them; each prompt ends with the caption of its ground-truth frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnlab import AttnlabError
from attnlab.io import read_json
from attnlab.world.caption import caption
from attnlab.world.rules import DOMAINS, ENVISION_RULES, RULES, Rule, get_rule
from attnlab.world.scene import Scene

N_STAGES = 4
ORDINALS = ("1th", "2th", "3th", "4th")


def frame_prompt(step: int, rule: Rule | str, frames: list[Scene]) -> str:
    """Prompt of stage `step` (1-based) of the four-stage sequence `frames` under `rule`."""
    rule = get_rule(rule)
    return (f"this is the {ORDINALS[step - 1]} event frame of a continuous four stage event sequence "
            f"showing {rule.describe(frames[0])} {caption(frames[step - 1])}")


def frame_explanation(step: int, rule: Rule | str, frames: list[Scene]) -> str:
    rule = get_rule(rule)
    return f"{rule.describe(frames[0])} then {caption(frames[step - 1])}"


def synthesize(n: int, seed: int) -> tuple[list[dict], dict[str, dict]]:
    """n records cycling over the six domains (one rule family each, ENVISION_RULES), and the
    ground truth keyed by str(index): {"rule": name, "frames": [4 scene dicts]}."""
    rng = np.random.default_rng(seed)
    records, truth = [], {}
    for index in range(n):
        category = DOMAINS[index % len(DOMAINS)]
        rule = RULES[ENVISION_RULES[category]]
        frames = rule.frames(rule.initial_scene(rng), N_STAGES)
        records.append({
            "index": index, "category": category, "process_type": rule.process,
            "prompts": [{"step": k, "prompt": frame_prompt(k, rule, frames),
                         "explanation": frame_explanation(k, rule, frames)} for k in range(1, N_STAGES + 1)],
        })
        truth[str(index)] = {"rule": rule.name, "frames": [f.to_dict() for f in frames]}
    return records, truth


def read_envision(path) -> list[dict]:
    """An Envision prompt file (real or ours): a JSON list of records, each with index, category,
    process_type and prompts (4 x {step, prompt, explanation}). Errors name the file and record."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict):  # a {"data": [...]} wrapper or a single record
        data = data.get("data", [data])
    if not isinstance(data, list):
        raise AttnlabError(f"{path}: expected a JSON list of Envision records, got {type(data).__name__}")
    for k, rec in enumerate(data):
        where = f"{path}: record {k} (index {rec.get('index', '?') if isinstance(rec, dict) else '?'})"
        if not isinstance(rec, dict):
            raise AttnlabError(f"{where}: not a JSON object")
        missing = [key for key in ("index", "category", "process_type", "prompts") if key not in rec]
        if missing:
            raise AttnlabError(f"{where}: missing keys {missing}")
        prompts = rec["prompts"]
        if not isinstance(prompts, list) or len(prompts) != N_STAGES:
            raise AttnlabError(f"{where}: prompts must be a list of {N_STAGES} stages")
        for p in prompts:
            miss = [key for key in ("step", "prompt", "explanation") if not isinstance(p, dict) or key not in p]
            if miss:
                raise AttnlabError(f"{where}: a stage lacks {miss}")
    return data
