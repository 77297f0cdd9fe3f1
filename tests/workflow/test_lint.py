"""Lints, as CI runs them: `snakemake --lint` and `snakefmt --check` for the workflow, ruff for the Python.

`ruff format --check` joins once the code base has been formatted once: it is switched on by
`[tool.attnlab.lint] ruff_format = true` in pyproject.toml (skipped with that reason until then).
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import REPO, snakemake

pytestmark = pytest.mark.workflow
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=REPO, capture_output=True, text=True)


def lint_settings() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {}).get("attnlab", {}).get("lint", {})


def test_snakemake_lint_is_clean():
    proc = snakemake(REPO, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    proc = run("snakefmt", "--check", "Snakefile", "workflow/Snakefile", "rules")
    assert proc.returncode == 0, proc.stderr


def test_ruff_check_is_clean():
    proc = run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr


def test_ruff_format_is_clean():
    if not lint_settings().get("ruff_format", False):
        pytest.skip("ruff format is not adopted yet: run `ruff format .` once, then set "
                    "[tool.attnlab.lint] ruff_format = true in pyproject.toml")
    proc = run("ruff", "format", "--no-cache", "--check", ".")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr
