"""random_features: synthesis invariants, features against direct formulas, ridge against its
closed form, and the claim check on hand-made fits."""

import numpy as np
import pandas as pd
import pytest

from attnlab.random_features import evaluate, plan
from attnlab.random_features.features import mlp_features, mlp_weights, rfa_features, rfa_weights
from attnlab.random_features.fit import MODELS, fit_seed
from attnlab.random_features.ridge import ridge_fit, ridge_path
from attnlab.random_features.synth import TARGETS, sample_inputs, target_values


def test_inputs_lie_on_the_sphere():
    x0, x = sample_inputs(np.random.default_rng(0), 5, 4, 3)
    assert x0.shape == (5, 3) and x.shape == (5, 4, 3)
    assert np.allclose(np.linalg.norm(x0, axis=-1), 1) and np.allclose(np.linalg.norm(x, axis=-1), 1)


def test_targets_are_permutation_invariant_and_psi0_ignores_the_query():
    rng = np.random.default_rng(1)
    x0, x = sample_inputs(rng, 6, 5, 4)
    beta = np.array([1.0, 0, 0, 0])
    perm = x[:, rng.permutation(5)]
    for t in TARGETS:
        np.testing.assert_allclose(target_values(t, beta, x0, x), target_values(t, beta, x0, perm))
    np.testing.assert_allclose(target_values("psi0", beta, x0, x), target_values("psi0", beta, -x0, x))
    # psi1 by hand: (1/N) Σ_i √d⟨x0,x_i⟩ · √d⟨β,x_i⟩
    want = [np.mean([4 * (x0[n] @ x[n, i]) * (beta @ x[n, i]) for i in range(5)]) for n in range(6)]
    np.testing.assert_allclose(target_values("psi1", beta, x0, x), want)


def test_rfa_features_match_the_formula():
    rng = np.random.default_rng(2)
    x0, x = sample_inputs(rng, 3, 4, 3)
    w = rfa_weights(rng, 2, 3, qk_mean=0.5)
    phi = rfa_features(w, x0, x).reshape(3, 2, 3)
    for n in range(3):
        for m in range(2):
            want = sum(max(x0[n] @ w[m] @ x[n, i], 0) * x[n, i] for i in range(4)) / 4
            np.testing.assert_allclose(phi[n, m], want, atol=1e-12)
    perm = x[:, [2, 0, 3, 1]]
    np.testing.assert_allclose(rfa_features(w, x0, perm), rfa_features(w, x0, x), atol=1e-12)
    assert np.allclose(rfa_weights(np.random.default_rng(0), 1, 3, 2.0) - rfa_weights(np.random.default_rng(0), 1, 3, 0.0),
                       2.0 * np.eye(3))


def test_mlp_features_match_the_formula():
    rng = np.random.default_rng(3)
    x0, x = sample_inputs(rng, 2, 3, 2)
    w = mlp_weights(rng, 5, 2, 3)
    assert w.shape == (5, 8)
    z = np.concatenate([x0[:, None], x], 1).reshape(2, -1)
    np.testing.assert_allclose(mlp_features(w, x0, x), np.maximum(z @ w.T, 0))


@pytest.mark.parametrize("n,p", [(40, 10), (10, 40)])  # primal and dual form
def test_ridge_matches_its_closed_form(n, p):
    rng = np.random.default_rng(4)
    phi, y = rng.standard_normal((n, p)), rng.standard_normal((n, 2))
    lam = 0.03
    want = np.linalg.solve(phi.T @ phi + n * lam * np.eye(p), phi.T @ y)
    np.testing.assert_allclose(ridge_fit(phi, y, lam), want, atol=1e-10)
    # and as least squares on [Φ; √(nλ) I] v ≈ [y; 0]
    aug = np.vstack([phi, np.sqrt(n * lam) * np.eye(p)])
    lsq = np.linalg.lstsq(aug, np.vstack([y, np.zeros((p, 2))]), rcond=None)[0]
    np.testing.assert_allclose(ridge_fit(phi, y, lam), lsq, atol=1e-10)
    path = ridge_path(phi, y[:, 0], [1e-3, 1.0])
    assert path[0].shape == (p,) and np.linalg.norm(path[1]) < np.linalg.norm(path[0])


def test_fit_seed_runs_every_model_target_and_size():
    df = fit_seed(seed=0, d=3, n_keys=4, heads=4, qk_mean=1.0, sample_sizes=[20, 60], n_val=30,
                  n_test=40, lams=[1e-3, 1e-1], targets=["psi0", "psi1"])
    assert len(df) == len(MODELS) * 2 * 2 and set(df["model"]) == set(MODELS)
    assert (df["features"] == 12).all() and df["test_nmse"].notna().all()
    assert df.equals(fit_seed(seed=0, d=3, n_keys=4, heads=4, qk_mean=1.0, sample_sizes=[20, 60],
                              n_val=30, n_test=40, lams=[1e-3, 1e-1], targets=["psi0", "psi1"])
                     .assign(fit_wall_s=df["fit_wall_s"]))


def fits(biased_psi1=0.1):
    mse = {"rfa-unbiased": {"psi0": 0.05, "psi1": 0.2}, "rfa-biased": {"psi0": 0.2, "psi1": biased_psi1},
           "rf-mlp": {"psi0": 0.5, "psi1": 0.6}}
    return pd.DataFrame([{"seed_index": s, "model": m, "target": t, "n": n, "test_mse": v,
                          "test_nmse": v} for s in range(3) for m, tv in mse.items()
                         for t, v in tv.items() for n in (100, 1000, 10000)])


def test_claims_from_fits():
    verdicts = lambda df: [r["verdict"] for r in evaluate.check_claims(df, targets=["psi0", "psi1"], scale="mini")]  # noqa: E731
    assert verdicts(fits()) == ["PASS", "PASS"]  # psi0 does not depend on x0: not in the 2nd check
    assert verdicts(fits(biased_psi1=0.3)) == ["PASS", "FAIL"]
    mixed = fits()
    mixed.loc[(mixed.seed_index == 1) & (mixed.model == "rfa-biased") & (mixed.target == "psi1"), "test_mse"] = 0.3
    assert verdicts(mixed)[1] == "INCONCLUSIVE"


def test_plan(unit_config):
    cfg = unit_config["experiments"]["random_features"]
    lams = plan.lams(cfg)
    assert lams[0] == pytest.approx(10.0 ** cfg["ridge_log10_lambda"][0]) and len(lams) == (
        cfg["ridge_log10_lambda"][1] - cfg["ridge_log10_lambda"][0] + 1)
    assert len({plan.fit_params(cfg, 1234, s)["seed"] for s in range(cfg["seeds"])}) == cfg["seeds"]
