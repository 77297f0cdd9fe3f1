"""A bad config fails before any job runs, names the key, and writes nothing."""

import pytest

from .conftest import snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("override,key", [
    ("experiments:\n  ocr:\n    head_dim: sixteen\n", "experiments.ocr.head_dim"),
    ("experiments:\n  ocrr:\n    enabled: true\n", "experiments.ocrr"),
    ("experiments:\n  ocr:\n    seeds: -3\n", "experiments.ocr.seeds"),
    ("experiments:\n  'ocr; touch pwned':\n    enabled: true\n", "ocr; touch pwned"),
    ("scale: huge\n", "config key scale"),
])
def test_bad_config_fails_naming_the_key(fresh_copy, override, key):
    (fresh_copy / "bad.yaml").write_text(override)
    proc = snakemake(fresh_copy, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert key in proc.stderr + proc.stdout
    assert list((fresh_copy / "results").iterdir()) == []
    assert not (fresh_copy / "pwned").exists()
