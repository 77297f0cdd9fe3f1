"""Config validation against config/schema.yaml, with messages that name the offending key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from attnlab import AttnlabError


class ConfigError(AttnlabError, ValueError):
    """A config value (or a combination of values) the workflow cannot run; the message names the keys."""


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(err) -> str:
    """One line per schema violation: the dotted key, then what is wrong with it."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        known = ", ".join(sorted(err.schema.get("properties", {})))
        return f"config key {_key(path + extra[:1])}: unknown key (allowed under {_key(path)}: {known})"
    if err.validator == "propertyNames":
        bad = err.message.split(" ")[0]
        return f"config key {_key(path)}: name {bad} is not allowed ({err.message})"
    hint = ""
    if err.validator == "type" and isinstance(err.instance, str) and err.instance.lower() in ("true", "false") \
            and "boolean" in (err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]):
        # snakemake --config reads only True / False as booleans; true / false arrive as strings
        hint = f" (on the command line write --config {_key(path)}={err.instance.capitalize()}: Snakemake reads " \
               "only capitalised True / False as booleans)"
    return f"config key {_key(path)}: {err.message}{hint}"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Validate `config` in place against the JSON schema; raise ConfigError naming every bad key."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid config ({len(errors)} problem(s)):\n  {lines}")
    return config


def config_hash(obj) -> str:
    """A stable short hash of a config block (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def enabled_experiments(config: dict) -> list[str]:
    return [eid for eid, block in config.get("experiments", {}).items() if block.get("enabled", True)]


def check_config_files(paths) -> None:
    """Each config file a run layers exists and holds a YAML mapping (Snakemake's own messages for
    these cases name neither the file nor the line)."""
    import yaml

    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}: a config file must hold a mapping of keys, not a {type(data).__name__}")


if __name__ == "__main__":  # python -m attnlab.config FILE... (make run checks CONFIG with it)
    import sys

    try:
        check_config_files(sys.argv[1:])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
