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
    ("vision:\n  model:\n    path: /no/such/sd-model\n", "vision.model.path"),
    ("experiments:\n  mucr:\n    real_path: /no/such/mucr.parquet\n", "experiments.mucr.real_path"),
    ("experiments:\n  ir_diffusion:\n    variants: [share, full]\n", "experiments.ir_diffusion.variants"),
])
def test_bad_config_fails_naming_the_key(fresh_copy, override, key):
    (fresh_copy / "bad.yaml").write_text(override)
    proc = snakemake(fresh_copy, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert key in proc.stderr + proc.stdout
    assert list((fresh_copy / "results").iterdir()) == []
    assert not (fresh_copy / "pwned").exists()


def test_a_local_stable_diffusion_folder_replaces_the_trained_model(fresh_copy, tmp_path):
    from .conftest import planned_jobs

    sd = tmp_path / "sd"
    for sub in ("unet", "text_encoder", "tokenizer", "scheduler"):
        (sd / sub).mkdir(parents=True)
    (fresh_copy / "sd.yaml").write_text(f"vision:\n  model:\n    path: {sd}\n")
    jobs = planned_jobs(snakemake(fresh_copy, "-n", "--cores", "1", "--configfile", "config/smoke.yaml",
                                  "sd.yaml"))
    assert "vision_model" not in jobs and "vision_train_data" not in jobs
    assert jobs["ir_diffusion_generate"] == 2 and jobs["envision_generate"] == 2
