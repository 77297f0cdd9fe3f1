"""Timing sweeps run alone (issue 15): a step marked exclusive holds every core Snakemake was given
(--cores), the resource every job holds at least one unit of, so no other job runs beside it on
any machine; config `timing_cores` sets another count. Shown by a dry run."""

import re

import pytest

from .conftest import snakemake

pytestmark = pytest.mark.workflow

TARGETS = ["results/superlinear/sweeps/seed0.parquet", "results/attention_costs/sweeps/seed0.parquet",
           "results/superlinear/data/train/seed0.parquet"]


def threads_by_rule(text: str) -> dict[str, int]:
    """rule -> threads of its (first) planned job; 1 when the dry run prints none."""
    out = {}
    for block in text.split("\nrule ")[1:]:
        name = block.split(":", 1)[0].strip()
        m = re.search(r"^\s+threads: (\d+)", block, re.M)
        out.setdefault(name, int(m.group(1)) if m else 1)
    return out


@pytest.mark.parametrize("cores,override,expected", [("2", "", 2), ("7", "", 7), ("7", "timing_cores: 3\n", 3)])
def test_a_timing_sweep_holds_every_core(fresh_copy, cores, override, expected):
    args = ["-n", "--cores", cores, *TARGETS, "--configfile", "config/smoke.yaml"]
    if override:
        (fresh_copy / "timing.yaml").write_text(override)
        args += ["timing.yaml"]
    proc = snakemake(fresh_copy, *args)
    threads = threads_by_rule(proc.stdout + proc.stderr)
    assert threads["superlinear_sweep"] == expected and threads["attention_costs_sweep"] == expected
    assert threads["superlinear_synth"] == 1  # an ordinary job holds one core
