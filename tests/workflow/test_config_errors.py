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
    ("experiments:\n  mucr:\n    token_dropout: 1\n", "experiments.mucr.token_dropout"),
])
def test_bad_config_fails_naming_the_key(fresh_copy, override, key):
    (fresh_copy / "bad.yaml").write_text(override)
    proc = snakemake(fresh_copy, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert key in proc.stderr + proc.stdout
    assert list((fresh_copy / "results").iterdir()) == []
    assert not (fresh_copy / "pwned").exists()


@pytest.mark.parametrize("override,keys", [
    ("experiments:\n  moh:\n    claim_fraction: 0.6\n",
     ["experiments.moh.claim_fraction", "experiments.moh.active_fractions"]),
    ("experiments:\n  dynamic_mask:\n    model: {n_layer: 1, n_head: 3, n_embd: 16}\n",
     ["experiments.dynamic_mask.model.n_embd", "experiments.dynamic_mask.model.n_head"]),
    ("experiments:\n  meta_tokens:\n    test_lengths: [32, 48]\n",
     ["experiments.meta_tokens.train_len", "experiments.meta_tokens.test_lengths"]),
])
def test_cross_key_mistakes_fail_at_dry_run_naming_both_keys(fresh_copy, override, keys):
    """A value that must agree with another key fails at parse time (`snakemake -n`), not after
    training, and the message names both keys."""
    (fresh_copy / "bad.yaml").write_text(override)
    proc = snakemake(fresh_copy, "-n", "--cores", "1", "--configfile", "config/smoke.yaml", "bad.yaml", check=False)
    assert proc.returncode != 0
    for key in keys:
        assert key in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_local_stable_diffusion_folder_replaces_the_trained_model(fresh_copy, tmp_path):
    from .conftest import planned_jobs

    sd = tmp_path / "sd"
    for sub in ("unet", "text_encoder", "tokenizer", "scheduler"):
        (sd / sub).mkdir(parents=True)
    (fresh_copy / "sd.yaml").write_text(f"vision:\n  model:\n    path: {sd}\n")
    jobs = planned_jobs(snakemake(fresh_copy, "-n", "--cores", "1", "--configfile", "config/smoke.yaml",
                                  "sd.yaml"))
    assert "vision_model" not in jobs and "vision_train_data" not in jobs
    assert jobs["ir_diffusion_generate"] == 1 and jobs["envision_generate"] == 1  # every seed's sampling in one job
