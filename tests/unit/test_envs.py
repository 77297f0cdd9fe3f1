"""Every envs/*.yaml pins exactly the versions the project installs (requirements.txt) and covers
the third-party imports of every module its stage's rules run (found statically)."""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from attnlab.codehash import module_closure, module_path

REPO = Path(__file__).resolve().parents[2]
# import name -> distribution name, where they differ
DISTRIBUTION = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}
# what a call needs at run time though nothing imports it by name
IMPLICIT = {".to_latex(": "jinja2", "to_parquet(": "pyarrow", "read_parquet(": "pyarrow"}


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def env_pins(path: Path) -> dict[str, str]:
    doc = yaml.safe_load(path.read_text())
    pins, pip = {}, []
    for dep in doc["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        else:
            assert re.fullmatch(r"[\w.-]+=[\w.*-]+", dep), f"{path.name}: conda dependency {dep!r} not pinned"
    for dep in pip:
        name, _, version = dep.partition("==")
        assert version, f"{path.name}: pip dependency {dep!r} not pinned with =="
        pins[name.lower()] = version
    return pins


def stage_modules() -> dict[str, set[str]]:
    """env file name -> attnlab modules run by the rules that use it: every step of the registry
    (rules/experiments.smk) and the rules written out in rules/*.smk."""
    from attnlab import registry
    from tests.fixtures import load_config

    out: dict[str, set[str]] = {}
    for _, step in registry.steps(load_config()):
        out.setdefault(f"{step.env}.yaml", set()).update({step.module, *(["attnlab.gpuslots"] if step.gpu else [])})
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            env = re.search(r'conda:\s*"\.\./envs/([\w-]+\.yaml)"', block)
            mods = re.findall(r"python -m (attnlab[\w.]+)", block)
            if mods:
                assert env, f"{smk.name}: rule {block.split(':')[0]} runs {mods} without a conda env"
                out.setdefault(env.group(1), set()).update(mods)
    return out


def _guarded(tree) -> set[int]:
    """ids of import nodes inside `try: ... except ImportError` (optional imports)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def third_party_imports(module: str) -> set[str]:
    found = set()
    for name in module_closure(module):
        source = module_path(name).read_text()
        tree = ast.parse(source)
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            found |= {t for t in tops if t != "attnlab" and t not in sys.stdlib_module_names}
        found |= {dist for marker, dist in IMPLICIT.items() if marker in source}
    return {DISTRIBUTION.get(t, t).lower() for t in found}


ENVS = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_match_requirements(env):
    req = requirements()
    pins = env_pins(env)
    assert pins, f"{env.name} installs nothing"
    for name, version in pins.items():
        assert name in req, f"{env.name}: {name} is not in requirements.txt"
        assert version == req[name], f"{env.name}: {name}=={version}, requirements.txt has {req[name]}"


def test_every_stage_env_covers_its_imports():
    stages = stage_modules()
    assert {"synth.yaml", "train.yaml", "analysis.yaml", "report.yaml"} <= set(stages)
    for env, modules in stages.items():
        pins = env_pins(REPO / "envs" / env)
        for module in sorted(modules):
            missing = third_party_imports(module) - set(pins)
            assert not missing, f"envs/{env} lacks {sorted(missing)} imported by {module}"


def test_every_env_is_used_or_reserved():
    used = set(stage_modules())
    for env in ENVS:
        assert env.name in used or env.name == "diffusion.yaml", f"{env.name} is used by no rule"
