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
