"""The `heads.external_models` config: a user's own local Hugging Face causal LMs, analysed with the
same tables as our models. Validated at Snakefile parse time (no torch import here), so a missing
or malformed path fails with a message naming the key before any job starts.

    heads:
      external_models:
        - {name: my_llama, path: /models/my-llama, token_offset: 1000}

Our synthetic tasks speak in token ids 0..V−1; `token_offset` maps them to offset..offset+V−1 of
the model's vocabulary (a tokenizer-free run).
"""

from __future__ import annotations

import json
from pathlib import Path

from attnlab.config import ConfigError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def _config_int(cfg: dict, *keys: str) -> int | None:
    for c in (cfg, cfg.get("text_config") or {}):
        for k in keys:
            if isinstance(c.get(k), int):
                return c[k]
    return None


def check_model_dir(path: str | Path, key: str, *, token_offset: int = 0, vocab_needed: int = 0,
                    positions_needed: int = 0) -> list[str]:
    """Problems with one model directory, each naming `key` (empty when it looks loadable)."""
    p = Path(path)
    if not p.exists():
        return [f"config key {key}: no such directory: {p}"]
    if not p.is_dir():
        return [f"config key {key}: not a directory: {p}"]
    cfg_file = p / "config.json"
    if not cfg_file.is_file():
        return [f"config key {key}: {p} has no config.json (not a Hugging Face model directory)"]
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return [f"config key {key}: {cfg_file} is not valid JSON ({e})"]
    if not isinstance(cfg, dict):
        return [f"config key {key}: {cfg_file} does not hold a JSON object"]
    problems = []
    if not any((p / w).is_file() for w in WEIGHT_FILES):
        problems.append(f"config key {key}: {p} has no weights ({' / '.join(WEIGHT_FILES)})")
    vocab = _config_int(cfg, "vocab_size")
    if vocab is None:
        problems.append(f"config key {key}: {cfg_file} has no vocab_size")
    elif token_offset + vocab_needed > vocab:
        problems.append(f"config key {key}: the tasks need token ids {token_offset}..{token_offset + vocab_needed - 1} "
                        f"(token_offset {token_offset} + {vocab_needed} task tokens) but the model's vocab_size is {vocab}")
    positions = _config_int(cfg, "max_position_embeddings", "n_positions")
    if positions is not None and positions < positions_needed:
        problems.append(f"config key {key}: the tasks need {positions_needed} positions, the model has {positions}")
    return problems


def validate_external_models(config: dict, *, vocab_needed: int = 0, positions_needed: int = 0) -> list[dict]:
    """The entries of `heads.external_models` with defaults filled in; ConfigError naming every bad
    entry (missing directory, no config.json or weights, vocabulary too small, duplicate names)."""
    entries = (config.get("heads") or {}).get("external_models") or []
    problems, seen, out = [], set(), []
    for i, e in enumerate(entries):
        key = f"heads.external_models[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not isinstance(e.get("path"), str):
            problems.append(f"config key {key}: needs a name and a path")
            continue
        if e["name"] in seen:
            problems.append(f"config key {key}.name: duplicate name {e['name']!r}")
        seen.add(e["name"])
        offset = int(e.get("token_offset", 0))
        problems += check_model_dir(e["path"], f"{key}.path", token_offset=offset, vocab_needed=vocab_needed,
                                    positions_needed=positions_needed)
        out.append({"name": e["name"], "path": str(Path(e["path"]).resolve()), "token_offset": offset})
    if problems:
        lines = "\n  ".join(problems)
        raise ConfigError(f"invalid external model(s) ({len(problems)} problem(s)):\n  {lines}")
    return out


def external_models(config: dict) -> list[dict]:
    """`validate_external_models` with the vocabulary and positions the needle and text suites of
    this config need (the Snakefile calls this at parse time)."""
    from attnlab.attention_sinks import plan as sinks_plan
    from attnlab.retrieval_heads import plan as retrieval_plan

    rh, sk = config["experiments"]["retrieval_heads"], config["experiments"]["attention_sinks"]
    return validate_external_models(
        config, vocab_needed=max(retrieval_plan.vocab_size(rh), sinks_plan.vocab_size(sk)),
        positions_needed=max(max(rh["test_lengths"]), sk["eval_len"]))
