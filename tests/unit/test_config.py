import copy
import re
from pathlib import Path

import pytest
import yaml

from attnlab.config import ConfigError, config_hash, validate_config
from tests.fixtures import SMALL, UNIT, layer, load_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schema.yaml"


def load(name):
    """A shipped config file, config/<name> (the subject of the shipped-config test only)."""
    return yaml.safe_load((REPO / "config" / name).read_text())


def merged(*names):
    """Layer config files the way Snakemake does (recursive update)."""
    cfg = {}
    for n in names:
        layer(cfg, load(n))
    return cfg


@pytest.mark.parametrize("layers", [["config.yaml"], ["config.yaml", "smoke.yaml"], ["config.yaml", "full.yaml"]])
def test_shipped_configs_are_valid(layers):
    validate_config(merged(*layers), SCHEMA)


@pytest.mark.parametrize("layers", [UNIT, SMALL])
def test_fixture_configs_are_valid(layers):
    """The unit tests' own configs follow the schema (update them when the schema changes)."""
    validate_config(load_config(*layers), SCHEMA)


def bad(mutate):
    cfg = load_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, SCHEMA)
    return str(e.value)


def test_wrong_type_names_the_key():
    msg = bad(lambda c: c["experiments"]["ocr"].__setitem__("head_dim", "sixteen"))
    assert "experiments.ocr.head_dim" in msg and "integer" in msg


def test_a_lowercase_boolean_from_the_command_line_says_how_to_write_it():
    """`snakemake --config stack_seeds=false` passes the string 'false' (Snakemake parses only True / False)."""
    msg = bad(lambda c: c.__setitem__("stack_seeds", "false"))
    assert "config key stack_seeds" in msg and "--config stack_seeds=False" in msg
    assert "--config" not in bad(lambda c: c.__setitem__("stack_seeds", 3))


def test_negative_seed_count_names_the_key():
    msg = bad(lambda c: c["experiments"]["ocr"].__setitem__("seeds", -1))
    assert "experiments.ocr.seeds" in msg and "minimum" in msg


def test_unknown_experiment_id_names_it():
    msg = bad(lambda c: c["experiments"].__setitem__("ocrr", {"enabled": True}))
    assert "experiments.ocrr" in msg and "unknown" in msg


def test_shell_metacharacters_in_an_id_are_rejected():
    msg = bad(lambda c: c["experiments"].__setitem__("ocr; rm -rf ~", {}))
    assert "experiments" in msg and "ocr; rm -rf ~" in msg


def test_unknown_top_level_key_and_optimizer():
    assert "config key lr" in bad(lambda c: c.__setitem__("lr", 1))
    assert "experiments.ocr.optimizers" in bad(lambda c: c["experiments"]["ocr"]["optimizers"].__setitem__("sgd", {"lr": 1, "steps": 2}))


def test_every_schema_property_is_described_or_referenced():
    schema = yaml.safe_load(SCHEMA.read_text())

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub or "$ref" in sub, f"{path}.{key} has no description"
            walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")
    for name, d in schema["$defs"].items():
        walk(d, name)
    walk(schema, "")


def test_config_hash_is_order_independent():
    a = {"x": 1, "y": {"b": 2, "a": 1}}
    b = copy.deepcopy({"y": {"a": 1, "b": 2}, "x": 1})
    assert config_hash(a) == config_hash(b) != config_hash({"x": 2, "y": a["y"]})


def test_values_out_of_range_name_the_key():
    assert "experiments.ocr.optimizers.adam.lr" in bad(
        lambda c: c["experiments"]["ocr"]["optimizers"]["adam"].__setitem__("lr", -0.1))
    assert "experiments.ocr.tasks.0.n_pairs" in bad(lambda c: c["experiments"]["ocr"]["tasks"][0].__setitem__("n_pairs", 1))
    assert "config key threads" in bad(lambda c: c.__setitem__("threads", 0))


def test_config_files_that_are_missing_malformed_or_not_mappings_are_named(tmp_path):
    from attnlab.config import ConfigError, check_config_files

    good, broken, listed = tmp_path / "good.yaml", tmp_path / "broken.yaml", tmp_path / "list.yaml"
    good.write_text("scale: mini\n")
    broken.write_text("experiments:\n  ocr: {seeds: [1\n")
    listed.write_text("- 1\n- 2\n")
    check_config_files([good])
    for path, what in [(tmp_path / "missing.yaml", "not found"), (broken, "not valid YAML (line"),
                       (listed, "mapping")]:
        with pytest.raises(ConfigError, match=re.escape(what)) as e:
            check_config_files([good, path])
        assert str(path) in str(e.value)


def test_the_readme_lists_every_experiment_of_the_default_config():
    """The README's "What it reproduces" table is the front door: an experiment the default run
    executes must have its row (seven were missing before this test)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## What it reproduces"):readme.index("## Where things land")]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert set(config["experiments"]) - listed == set()
