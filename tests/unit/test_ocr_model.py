import numpy as np
import pytest
import torch
from transformers import AutoModel

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.ocr.evaluate import evaluate_run
from attnlab.ocr.model import OCRConfig, OCRTransformer
from attnlab.ocr.synth import Vocabulary, n_subjects, synthesize
from attnlab.ocr.train import build_model, tensors, train


@pytest.mark.parametrize("par,dh", [("factorized", 4), ("combined", None)])
def test_forward_matches_the_formula(par, dh):
    torch.manual_seed(0)
    model = OCRTransformer(OCRConfig(vocab_size=12, head_dim=dh, parametrization=par, init_std=0.5))
    with torch.no_grad():
        model.w_kq.normal_()
    ids = torch.tensor([[3, 10], [5, 11]])
    out = model(ids)
    w_kq, w_ov = model.w_kq.detach(), model.w_ov().detach()
    for b in range(2):
        X = torch.nn.functional.one_hot(ids[b], 12).float()  # (T, V)
        x_T = X[-1]
        a = torch.softmax(X @ w_kq @ x_T, dim=0)  # softmax(X W_KQ x_T)
        f = w_ov.T @ X.T @ a  # W_OVᵀ Xᵀ softmax(...)
        torch.testing.assert_close(out.logits[b], f, rtol=1e-5, atol=1e-6)


def test_zero_init_kq_attends_uniformly():
    model = OCRTransformer(OCRConfig(vocab_size=10, head_dim=2))
    assert torch.count_nonzero(model.w_kq) == 0
    att = model(torch.tensor([[1, 8]])).attentions
    torch.testing.assert_close(att, torch.full((1, 2), 0.5))


def test_factorized_w_ov_is_the_product():
    model = OCRTransformer(OCRConfig(vocab_size=10, head_dim=3))
    assert model.w_ov().shape == (10, 10)
    assert torch.linalg.matrix_rank(model.w_ov().detach()) <= 3
    torch.testing.assert_close(model.w_ov(), model.w_v @ model.w_o)


@pytest.mark.parametrize("par,dh", [("factorized", 8), ("combined", None)])
def test_save_and_load_with_auto_classes(tmp_path, par, dh):
    model = build_model(30, {"parametrization": par, "head_dim": dh}, 0.1, seed=1)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, OCRTransformer)
    ids = torch.tensor([[2, 25]])
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)


def test_factorized_learns_ocr_and_combined_does_not():
    """A small version of the paper's experiment: the gap appears within seconds."""
    n, m = 6, 3
    df = synthesize(n, m, m, seed=0)
    size = Vocabulary(n_subjects(n, m, m), n).size
    x, y = tensors(df, "train")
    results = {}
    for par, dh in [("factorized", 8), ("combined", None)]:
        model = build_model(size, {"parametrization": par, "head_dim": dh}, 0.01, seed=0)
        log = train(model, x, y, optimizer="adam", lr=0.01, steps=600, log_every=100, progress=False)
        assert log[-1]["train_acc"] == 1.0
        results[par], _ = evaluate_run(model, df)
    assert results["factorized"]["test_acc_c"] >= 0.9
    assert results["combined"]["test_acc_c"] <= 2 / n
    assert np.isclose(results["combined"]["chance_ce"], np.log(n))
    # the final train CE is the cross-entropy of the final weights on every training example
    assert results["factorized"]["train_ce"] < 0.05 and results["combined"]["train_ce"] > 0


def test_train_ce_is_the_mean_cross_entropy_of_the_training_answers():
    # zero weights: uniform attention and all-zero logits, so every answer has probability 1/V
    n, m = 3, 2
    df = synthesize(n, m, m, seed=1)
    size = Vocabulary(n_subjects(n, m, m), n).size
    model = build_model(size, {"parametrization": "combined", "head_dim": None}, 0.01, seed=0)
    with torch.no_grad():
        model.w_ov_full.zero_()
    metrics, _ = evaluate_run(model, df)
    assert np.isclose(metrics["train_ce"], np.log(size)) and np.isclose(metrics["test_ce"], np.log(size))


def test_a_diverged_model_is_not_measured_and_fails_every_gate():
    n, m = 3, 2
    df = synthesize(n, m, m, seed=1)
    size = Vocabulary(n_subjects(n, m, m), n).size
    model = build_model(size, {"parametrization": "factorized", "head_dim": 4}, 0.01, seed=0)
    with torch.no_grad():
        model.w_o[0, 0] = float("nan")  # what plain GD at too large a step leaves behind
    metrics, sv = evaluate_run(model, df)
    assert all(np.isnan(metrics[k]) for k in ("train_ce", "train_acc", "test_acc_c", "test_ce", "nuclear_norm"))
    assert np.isnan(sv).all() and metrics["n_pairs"] == n
