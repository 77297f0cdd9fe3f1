"""icl_regression: synthesis invariants, the model against a direct computation, every metric on
inputs with known answers, and the claim check on hand-made measurements."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab.icl_regression import evaluate, plan
from attnlab.icl_regression.dgd import dgd_predict, eta, relative_squared_difference
from attnlab.icl_regression.model import ICLAttention, ICLConfig, prompt_tensors
from attnlab.icl_regression.patterns import head_patterns, homogeneity, last_entry_ratio, offdiag_ratio, omega, zero_sum
from attnlab.icl_regression.ridge import bayes_lambda, ridge_predict
from attnlab.icl_regression.synth import from_frame, sample_prompts, synthesize, to_frame
from attnlab.icl_regression.train import train


@pytest.fixture
def cfg(unit_config):
    return unit_config["experiments"]["icl_regression"]


# --- synthesis ---------------------------------------------------------------------------------

def test_prompts_follow_the_linear_model():
    rng = np.random.default_rng(0)
    x, y, beta = sample_prompts(rng, 4000, 7, 5, noise_var=0.0)
    assert x.shape == (4000, 8, 5) and y.shape == (4000, 8) and beta.shape == (4000, 5)
    np.testing.assert_allclose(y, np.einsum("nld,nd->nl", x, beta), atol=1e-12)
    assert abs((beta**2).sum(1).mean() - 1.0) < 0.05  # β ~ N(0, I/d): E‖β‖² = 1
    _, y_noisy, _ = sample_prompts(np.random.default_rng(0), 4000, 7, 5, noise_var=0.25)
    assert abs(np.var(y_noisy - y) - 0.25) < 0.02  # same stream, only the noise differs


def test_frame_round_trip_and_lengths():
    df = synthesize(3, [4, 9], 6, 0.1, seed=1)
    assert set(df["length"]) == {4, 9} and len(df) == 6 * 5 + 6 * 10
    x, y = from_frame(df, 9)
    assert x.shape == (6, 10, 3) and y.shape == (6, 10)
    x2, y2, _ = sample_prompts(np.random.default_rng(3), 2, 4, 3, 0.1)
    xr, yr = from_frame(to_frame(x2, y2), 4)
    np.testing.assert_allclose(xr, x2, rtol=1e-6)
    np.testing.assert_allclose(yr, y2, rtol=1e-6)
    with pytest.raises(ValueError):
        from_frame(df, 5)


def test_synthesis_is_seeded():
    pd.testing.assert_frame_equal(synthesize(2, [3], 4, 0.1, 7), synthesize(2, [3], 4, 0.1, 7))
    assert not synthesize(2, [3], 4, 0.1, 7).equals(synthesize(2, [3], 4, 0.1, 8))


# --- model --------------------------------------------------------------------------------------

def icl(d, heads, mechanism, train_length):
    return ICLAttention(ICLConfig(d=d, heads=heads, mechanism=mechanism, train_length=train_length))


def direct_forward(model, z, zq):
    """ŷ = Σ_h Σ_l attn_l · OV_h z_l, written as loops over heads and tokens."""
    kq, ov = model.kq().detach(), model.ov().detach()
    out = torch.zeros(len(z))
    for b in range(len(z)):
        for h in range(kq.shape[0]):
            s = torch.stack([z[b, l] @ kq[h] @ zq[b] for l in range(z.shape[1])])
            if model.config.mechanism == "softmax":
                w = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
            elif model.config.mechanism == "linear-length":
                w = s / z.shape[1]
            else:
                w = s / model.config.train_length
            out[b] += sum(w[l] * (ov[h] @ z[b, l]) for l in range(z.shape[1]))
    return out


@pytest.mark.parametrize("mechanism,heads", [("softmax", 1), ("softmax", 3), ("linear-length", 1),
                                             ("linear-fixed", 2)])
def test_forward_matches_direct_computation(mechanism, heads):
    torch.manual_seed(0)
    model = icl(4, heads, mechanism, train_length=5)
    x, y, _ = sample_prompts(np.random.default_rng(1), 3, 7, 4, 0.1)
    z, zq, yq = prompt_tensors(x, y)
    assert z.shape == (3, 7, 5) and torch.all(zq[:, -1] == 0) and torch.equal(yq, torch.tensor(y[:, -1], dtype=torch.float32))
    torch.testing.assert_close(model(z, zq), direct_forward(model, z, zq), rtol=1e-4, atol=1e-5)
    assert model(z, zq, per_head=True).shape == (3, heads)


def test_linear_normalisations_agree_at_the_training_length():
    torch.manual_seed(0)
    a, b = icl(3, 1, "linear-length", 6), icl(3, 1, "linear-fixed", 6)
    b.load_state_dict(a.state_dict())
    x, y, _ = sample_prompts(np.random.default_rng(2), 4, 6, 3, 0.1)
    torch.testing.assert_close(a(*prompt_tensors(x, y)[:2]), b(*prompt_tensors(x, y)[:2]))
    x, y, _ = sample_prompts(np.random.default_rng(2), 4, 12, 3, 0.1)  # twice as long: 2× apart
    torch.testing.assert_close(2 * a(*prompt_tensors(x, y)[:2]), b(*prompt_tensors(x, y)[:2]))


def test_initialisation_is_the_papers_uniform_fan_in():
    """Seeded like nn.Linear's default init, in the order w_q, w_k, w_v, w_o (the numbers every
    trained run starts from)."""
    torch.manual_seed(0)
    model = icl(2, 2, "softmax", 4)
    torch.manual_seed(0)
    b = 1 / math.sqrt(3)
    want = [torch.empty(2, 3, 3).uniform_(-b, b) for _ in range(3)]
    want.append(torch.empty(2, 3).uniform_(-1 / math.sqrt(6), 1 / math.sqrt(6)))  # fan-in H·(d+1)
    for name, w in zip(("w_q", "w_k", "w_v", "w_o"), want):
        assert torch.equal(getattr(model, name).detach(), w), name


def test_run_directory_round_trip(tmp_path):
    from transformers import AutoModel

    import attnlab.models  # noqa: F401  (registers the Auto classes)

    torch.manual_seed(0)
    model = icl(3, 2, "softmax", 8)
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    x, y, _ = sample_prompts(np.random.default_rng(0), 2, 8, 3, 0.1)
    for loaded in (ICLAttention.from_run_dir(tmp_path), AutoModel.from_pretrained(tmp_path)):
        assert type(loaded) is ICLAttention and not loaded.training
        c = loaded.config
        assert (c.d, c.heads, c.mechanism, c.train_length) == (3, 2, "softmax", 8)
        assert torch.equal(loaded(*prompt_tensors(x, y)[:2]), model(*prompt_tensors(x, y)[:2]))


def test_unknown_mechanism_is_named():
    with pytest.raises(ValueError, match="unknown mechanism 'cosine'"):
        ICLConfig(mechanism="cosine")


def test_training_lowers_the_test_mse():
    torch.manual_seed(0)
    model = icl(3, 1, "linear-length", 10)
    x, y, _ = sample_prompts(np.random.default_rng(9), 2000, 10, 3, 0.1)
    before = evaluate.mse(evaluate.predict(model, x, y), y)
    log = train(model, steps=150, batch_size=64, lr=0.01, noise_var=0.1, seed=0, log_every=50)
    assert [r["step"] for r in log] == [50, 100, 150]
    assert evaluate.mse(evaluate.predict(model, x, y), y) < 0.9 * before


# --- metrics ------------------------------------------------------------------------------------

def test_kq_metrics_on_known_matrices():
    assert offdiag_ratio(np.diag([1.0, 2.0, 3.0])) == 0.0
    assert homogeneity(0.3 * np.eye(4)) == pytest.approx(0, abs=1e-12) and omega(0.3 * np.eye(4)) == pytest.approx(0.3)
    assert offdiag_ratio(np.ones((2, 2)) - np.eye(2)) == 1.0
    assert offdiag_ratio(np.array([[1.0, 1.0], [1.0, 1.0]])) == pytest.approx(math.sqrt(0.5))
    assert homogeneity(np.diag([1.0, 3.0])) == pytest.approx(0.5)  # std 1 / mean 2


def test_ov_metrics_on_known_vectors():
    assert last_entry_ratio(np.array([0.0, 0.0, -2.0])) == 1.0
    assert last_entry_ratio(np.array([3.0, 0.0, 4.0])) == pytest.approx(0.8)
    assert zero_sum([2.5, -2.5]) == 0.0 and zero_sum([1.0, 3.0]) == 1.0
    assert zero_sum([1.0, -3.0]) == pytest.approx(0.5)


def test_head_patterns_ignore_the_query_label_column():
    d = 3
    kq = np.zeros((1, d + 1, d + 1))
    kq[0, :d, :d] = 0.2 * np.eye(d)
    kq[0, :, d] = 9.0  # multiplies the query's label entry, always 0: must not count
    ov = np.zeros((1, d + 1))
    ov[0, d] = 1.5
    (h,) = head_patterns(kq, ov)
    assert h["offdiag_ratio"] == 0 and h["homogeneity"] == pytest.approx(0, abs=1e-12)
    assert h["last_entry_ratio"] == 1
    assert h["omega"] == pytest.approx(0.2) and h["mu"] == 1.5


def test_dgd_predictor_equals_direct_computation():
    x, y, _ = sample_prompts(np.random.default_rng(5), 4, 9, 3, 0.1)
    got = dgd_predict(x, y, 0.7)
    for b in range(4):
        X, Y, xq = x[b, :-1], y[b, :-1], x[b, -1]
        xbar = X.mean(0)
        want = 0.7 / 9 * sum(Y[l] * (X[l] - xbar) @ xq for l in range(9))
        assert got[b] == pytest.approx(want)
    assert eta([0.1, -0.2], [3.0, -1.0]) == pytest.approx(0.5)
    assert relative_squared_difference(np.array([3.0, 4.0]), np.array([3.0, 4.0])) == 0.0
    assert relative_squared_difference(np.array([3.0, 4.0]), np.zeros(2)) == 1.0
    # ‖(0.3, 0.4)‖² / ‖(3, 4)‖² = 0.25 / 25 = 1%: the square of the plain ratio 10%
    assert relative_squared_difference(np.array([3.0, 4.0]), np.array([2.7, 3.6])) == pytest.approx(0.01)


def test_opposite_heads_implement_debiased_gd():
    """Two heads with KQ = ±ω I and OV = ±μ e_y: to first order in ω, the softmax layer is the
    debiased-GD predictor with η = Σ_h ω_h μ_h (the paper's mechanism)."""
    d, w, mu = 4, 0.02, 5.0
    model = icl(d, 2, "softmax", 40)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for h, sign in enumerate([1.0, -1.0]):
            model.w_q[h, :d, :d] = sign * math.sqrt(w * math.sqrt(d + 1)) * torch.eye(d)
            model.w_k[h, :d, :d] = math.sqrt(w * math.sqrt(d + 1)) * torch.eye(d)
            model.w_v[h, d, d] = 1.0
            model.w_o[h, d] = sign * mu
    heads = head_patterns(model.kq().detach().double().numpy(), model.ov().detach().double().numpy())
    assert [h["omega"] for h in heads] == pytest.approx([w, -w]) and zero_sum([h["mu"] for h in heads]) == 0
    x, y, _ = sample_prompts(np.random.default_rng(0), 500, 40, d, 0.1)
    pred = evaluate.predict(model, x, y)
    dgd = dgd_predict(x, y, eta([h["omega"] for h in heads], [h["mu"] for h in heads]))
    assert relative_squared_difference(pred, dgd) < 0.02**2


def test_ridge_matches_its_closed_form():
    x, y, _ = sample_prompts(np.random.default_rng(3), 5, 12, 4, 0.1)
    lam = bayes_lambda(0.1, 4)
    assert lam == pytest.approx(0.4)
    got = ridge_predict(x, y, lam)
    for b in range(5):
        X, Y = x[b, :-1], y[b, :-1]
        # ridge as least squares on [X; √λ I] β ≈ [y; 0]
        A = np.vstack([X, math.sqrt(lam) * np.eye(4)])
        beta = np.linalg.lstsq(A, np.concatenate([Y, np.zeros(4)]), rcond=None)[0]
        assert got[b] == pytest.approx(beta @ x[b, -1])
    x, y, _ = sample_prompts(np.random.default_rng(3), 5, 12, 4, 0.0)  # noiseless: λ→0 is exact
    np.testing.assert_allclose(ridge_predict(x, y, 1e-10), y[:, -1], atol=1e-6)


# --- plan and claims ----------------------------------------------------------------------------

def test_plan(cfg):
    runs = plan.runs(cfg)
    assert list(runs) == ["softmax-h1", "softmax-h2", "softmax-h4", "linear-length", "linear-fixed"]
    m = plan.manifest(cfg, 1234)
    assert len(m) == len(cfg["dims"]) * len(runs) * cfg["seeds"]
    assert len({e["seed"] for e in m}) == len(m)  # one seed per (d, variant, seed index)
    tp = plan.train_params(cfg, 1234, 5, "softmax-h2")
    assert tp["run"] == {"mechanism": "softmax", "heads": 2}
    # the stacked job trains exactly the manifest's seeds, in run-dir order
    entries = [e for e in m if e["d"] == 5 and e["run"] == "softmax-h2"]
    assert tp["seeds"] == [e["seed"] for e in entries]
    assert plan.run_dirs(cfg, 5, "softmax-h2") == [e["model_dir"] for e in entries]
    assert plan.synth_params(cfg, 1234, 5, 0)["seed"] != plan.synth_params(cfg, 1234, 5, 1)["seed"]


def frames(h2_zero_sum=(0.003, 0.004, 0.002), lin_fixed_160=(1.0, 1.0, 1.0)):
    mse = {"ridge": (0.115, 0.11), "zero": (1.1, 1.1), "softmax-h1": (0.40, 0.38), "softmax-h2": (0.244, 0.20),
           "linear-length": (0.30, 0.29)}
    rows = []
    for s in range(3):
        for model, (at40, at160) in mse.items():
            rows += [{"d": 5, "model": model, "seed_index": s, "length": 40, "mse": at40},
                     {"d": 5, "model": model, "seed_index": s, "length": 160, "mse": at160}]
        rows += [{"d": 5, "model": "linear-fixed", "seed_index": s, "length": 40, "mse": 0.3},
                 {"d": 5, "model": "linear-fixed", "seed_index": s, "length": 160, "mse": lin_fixed_160[s]}]
    runs = pd.DataFrame([{"d": 5, "run": "softmax-h2", "seed_index": s, "max_offdiag_ratio": 0.02,
                          "max_homogeneity": 0.01, "min_last_entry_ratio": 0.999,
                          "zero_sum": h2_zero_sum[s], "dgd_rel_diff": 0.002} for s in range(3)])
    return pd.DataFrame(rows), runs


def verdicts(mse, runs, gap_bar=0.5):
    rows = evaluate.check_claims(mse, runs, d=5, train_length=40, longest=160, softmax_heads=[1, 2],
                                 linear_attention=["linear-length", "linear-fixed"], scale="mini", gap_bar=gap_bar)
    return [r["verdict"] for r in rows]


def test_claims_pass_fail_and_disagreeing_seeds():
    assert verdicts(*frames()) == ["PASS"] * 7 + ["NOT RUN"]
    # unnormalised linear attention that does not blow up fails the length claim
    assert verdicts(*frames(lin_fixed_160=(0.5, 0.5, 0.5)))[4] == "FAIL"
    # one seed stuck in the single-head solution: the OV claim is undecided, not a pass
    assert verdicts(*frames(h2_zero_sum=(0.003, 1.0, 0.002)))[2] == "INCONCLUSIVE"


def test_competence_is_the_share_of_the_zero_to_ridge_gap():
    mse, _ = frames()
    closed = evaluate.competence_values(mse, d=5, train_length=40)
    # H=2: (1.1 − 0.244) / (1.1 − 0.115) = 0.869; H=1: 0.7 / 0.985 = 0.711
    assert closed["softmax-h2"][0] == pytest.approx(0.856 / 0.985)
    assert closed["softmax-h1"][1] == pytest.approx(0.7 / 0.985)
    assert "zero" not in closed and "ridge" not in closed


def test_under_trained_models_make_claims_inconclusive():
    # a bar above H=1's 0.71 but below H=2's 0.87: rows that compare H=1 are under-trained,
    # the H=2-only rows keep their verdict
    v = verdicts(*frames(), gap_bar=0.8)
    assert v[0] == "INCONCLUSIVE"  # H=2 vs H=1
    assert v[1:4] == ["PASS"] * 3  # H=2 patterns and DGD
    assert v[4] == "INCONCLUSIVE"  # length: includes H=1 and linear (0.81 ≥ 0.8 but H=1 is not)
    rows = evaluate.check_claims(*frames(), d=5, train_length=40, longest=160, softmax_heads=[1, 2],
                                 linear_attention=["linear-length", "linear-fixed"], scale="mini", gap_bar=0.8)
    assert "under-trained" in rows[0]["why"] and rows[0]["competence"]["bar"] == 0.8
    assert [r["kind"] for r in rows] == ["paper"] * 5 + ["caveat", "caveat", "paper"]


def test_stacked_training_equals_training_each_seed_alone():
    """Seeds trained as one stack (one process, one optimiser) end where each would alone."""
    from attnlab.icl_regression.train import build_model, train_stacked

    run = {"mechanism": "softmax", "heads": 2}
    seeds = [11, 12, 13]
    kw = dict(steps=40, batch_size=16, lr=0.01, noise_var=0.1, log_every=20)
    stacked = [build_model(3, run, 8, s) for s in seeds]
    logs = train_stacked(stacked, seeds=seeds, **kw)
    for s, m, log in zip(seeds, stacked, logs):
        alone = build_model(3, run, 8, s)
        alone_log = train(alone, seed=s, **kw)
        for k in ("w_q", "w_k", "w_v", "w_o"):
            torch.testing.assert_close(getattr(m, k), getattr(alone, k), rtol=1e-4, atol=1e-5)
        assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in alone_log], rel=1e-4)
    assert not torch.allclose(stacked[0].w_q, stacked[1].w_q)  # seeds differ


def test_weight_claims_on_reached_seeds_and_the_seed_dependence_caveat():
    """weight_claims_on="reached": the H=2 rows are judged on the seeds in the multi-head solution
    (naming those left out), and whether each seed ends in the multi-head or the single-head
    solution is its own caveat row."""
    mse, runs = frames(h2_zero_sum=(0.003, 1.0, 0.002))
    stuck = (mse.model == "softmax-h2") & (mse.seed_index == 1) & (mse.length == 40)
    mse.loc[stuck, "mse"] = 0.402  # the single-head solution: H=1's MSE

    def rows(mse, runs):
        return evaluate.check_claims(mse, runs, d=5, train_length=40, longest=160, softmax_heads=[1, 2],
                                     linear_attention=["linear-length", "linear-fixed"], scale="mini", gap_bar=0.5,
                                     weight_claims_on="reached")

    r = rows(mse, runs)
    assert r[0]["kind"] == "caveat" and r[0]["verdict"] == "PASS" and "2 of 3" in r[0]["measured"]
    assert [x["verdict"] for x in r[1:5]] == ["PASS"] * 4  # MSE vs H=1, KQ, OV, DGD on seeds 0 and 2
    assert all(x["seeds"] == [0, 2] and "left out: seed 1" in x["claim"] for x in r[1:5])
    # a seed in neither solution (zero-sum 0.5) fails the caveat; a reached seed with a bad KQ fails KQ
    runs2 = runs.assign(zero_sum=[0.003, 0.5, 0.002], max_offdiag_ratio=[0.02, 0.02, 0.3])
    r = rows(mse, runs2)
    assert r[0]["verdict"] == "INCONCLUSIVE" and r[2]["verdict"] == "INCONCLUSIVE"  # KQ: seed 0 holds, 2 fails
    # no seed reached: the H=2 rows are undecided, never a pass
    r = rows(mse, runs.assign(zero_sum=[1.0, 1.0, 1.0]))
    assert all(x["verdict"] == "INCONCLUSIVE" for x in r[1:5])
    with pytest.raises(Exception, match="weight_claims_on"):
        evaluate.check_claims(mse, runs, d=5, train_length=40, longest=160, softmax_heads=[1, 2],
                              linear_attention=[], scale="mini", gap_bar=0.5, weight_claims_on="some")
