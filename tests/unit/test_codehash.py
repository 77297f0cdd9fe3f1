import os
import shutil
import subprocess
import sys

import pytest

from attnlab import codehash
from attnlab.attention import MECHANISMS, mechanism_modules
from attnlab.codehash import code_version, module_closure


def test_closure_follows_imports_within_the_package():
    train = module_closure("attnlab.ocr.train")
    assert {"attnlab", "attnlab.ocr", "attnlab.ocr.train", "attnlab.ocr.model", "attnlab.io",
            "attnlab.cli", "attnlab.seeds"} <= set(train)
    # modules the step does not use stay out: editing them must not rerun training
    assert "attnlab.ocr.table" not in train
    assert "attnlab.ocr.evaluate" not in train
    assert "attnlab.tables" not in train


def test_evaluate_depends_on_model_and_metrics_table_does_not():
    evaluate = module_closure("attnlab.ocr.evaluate")
    assert {"attnlab.ocr.model", "attnlab.metrics.spectra", "attnlab.claims"} <= set(evaluate)
    table = module_closure("attnlab.ocr.table")
    assert "attnlab.ocr.model" not in table and "attnlab.tables" in table


def test_version_is_stable_and_distinguishes_steps():
    assert code_version("attnlab.ocr.train") == code_version("attnlab.ocr.train")
    assert code_version("attnlab.ocr.train") != code_version("attnlab.ocr.table")


def test_model_code_holds_no_mechanism_file_and_mechanisms_are_named():
    closure = set(module_closure("attnlab.train.lm"))
    assert {"attnlab.lm.modeling", "attnlab.attention", "attnlab.attention.base", "attnlab.hooks"} <= closure
    assert not closure & {module for module, _ in MECHANISMS.values()}
    assert mechanism_modules(["moh", "softmax", "moh"]) == ["attnlab.attention.moh", "attnlab.attention.softmax"]
    assert code_version("attnlab.train.lm", mechanisms=["moh"]) == code_version("attnlab.train.lm", "attnlab.attention.moh")
    with pytest.raises(ValueError, match="unknown attention"):
        code_version("attnlab.train.lm", mechanisms=["nope"])


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the attnlab sources that code versions are computed from, to edit freely."""
    copy = tmp_path / "attnlab"
    shutil.copytree(codehash.ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(codehash, "ROOT", copy)
    codehash._version.cache_clear()
    yield copy
    codehash._version.cache_clear()  # drop versions of the copy before ROOT is restored


def test_editing_one_mechanism_reruns_only_the_jobs_that_use_it(package_copy):
    jobs = {"moh": ["softmax", "moh"], "dynamic_mask": ["softmax", "dynamic_mask"],
            "meta_tokens": ["softmax", "meta"], "softmax_only": ["softmax"]}

    def versions():
        codehash._version.cache_clear()
        return {job: code_version("attnlab.train.lm", mechanisms=m) for job, m in jobs.items()}

    def rerun_after_editing(rel):
        before = versions()
        path = package_copy / rel
        path.write_text(path.read_text() + "\n# an edit\n")
        return {job for job, v in versions().items() if v != before[job]}

    assert len(set(versions().values())) == len(jobs)
    assert rerun_after_editing("attention/moh.py") == {"moh"}
    assert rerun_after_editing("attention/meta.py") == {"meta_tokens"}
    assert rerun_after_editing("attention/softmax.py") == set(jobs)
    assert rerun_after_editing("attention/base.py") == set(jobs)  # the shared interface
    assert rerun_after_editing("ocr/model.py") == set()


def test_hashing_imports_no_torch_and_attention_imports_nothing_from_lm():
    # Snakemake computes versions at parse time: the registry must come without torch
    code = "import sys, attnlab.codehash, attnlab.attention; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(codehash.ROOT.parent)})
    assert proc.returncode == 0, proc.stderr
    closure = module_closure("attnlab.attention", *mechanism_modules(MECHANISMS))
    assert "attnlab.hooks" in closure and not [m for m in closure if m.startswith("attnlab.lm")]
