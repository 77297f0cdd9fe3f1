"""The workflow deployed into a user's own directory, as `snakedeploy deploy-workflow` does it:
config/ and profiles/ copied there, and a workflow/Snakefile declaring attnlab as a Snakemake module
(with a local path where snakedeploy writes `github("<owner>/attnlab", path="workflow/Snakefile", tag=...)`).
Also the files the Snakemake workflow catalog needs for its "standardized usage" listing."""

import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, copy_repo, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

# snakedeploy's module template, with a local snakefile path
MODULE = """from snakemake.utils import min_version

min_version("6.10.0")


configfile: "config/config.yaml"


module attnlab:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from attnlab
"""


def deploy(source: Path, dest: Path) -> Path:
    for sub in ("config", "profiles"):
        shutil.copytree(source / sub, dest / sub)
    (dest / "workflow").mkdir()
    (dest / "workflow" / "Snakefile").write_text(MODULE.format(snakefile=source / "workflow" / "Snakefile"))
    return dest


def test_catalog_files_are_in_place():
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert set(settings["usage"]) >= {"mandatory-flags", "software-stack-deployment"}
    assert (REPO / "config" / "README.md").is_file() and (REPO / "workflow" / "Snakefile").is_file()


def test_deployed_module_plans_the_same_jobs_and_runs_in_the_users_directory(tmp_path):
    source = copy_repo(tmp_path / "attnlab")
    study = deploy(source, tmp_path / "study")
    smoke = ("--configfile", "config/smoke.yaml")
    here = planned_jobs(snakemake(source, "-n", "--cores", "1", *smoke))
    there = planned_jobs(snakemake(study, "-n", "--cores", "1", *smoke))
    assert here.pop("all") == 1 and there.pop("deployed") == 1  # the module's default target
    assert there == here
    # a real job: the attnlab package is found, outputs land in the user's directory
    snakemake(study, "--cores", "1", "results/tables/pavlov.md", *smoke)
    assert (study / "results" / "tables" / "pavlov.md").stat().st_size > 0
    assert not (source / "results" / "tables").exists()
