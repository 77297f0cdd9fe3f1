"""Evaluate every trained icl_regression run and check the paper's claims over seeds.

Per run and seed: test MSE at every test length (against the noisy y_q, so the floor is σ²);
per head ω, μ and the pattern metrics (patterns.py); per run the zero-sum of the label weights
and the relative squared difference to the debiased-GD predictor built from the run's own (ω, μ)
(dgd.py), at the training length. The ridge optimum (ridge.py) and the context-free guess 0 are
scored on the same prompts.

Competence gate (attnlab.claims.Competence): a claim about trained models counts a seed only when
every model it compares closes at least `competence.gap_closed` of the gap between predicting 0
(test MSE ≈ 1 + σ²) and ridge (the Bayes optimum) at the training length; below it the model has
not learnt in-context regression and the row is INCONCLUSIVE (under-trained).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from attnlab import AttnlabError
from attnlab.claims import ClaimSet, Competence, gap_closed
from attnlab.cli import StepArgs, run_step
from attnlab.icl_regression import PAPER
from attnlab.icl_regression.dgd import dgd_predict, eta, relative_squared_difference
from attnlab.icl_regression.model import ICLAttention, prompt_tensors
from attnlab.icl_regression.patterns import head_patterns, zero_sum
from attnlab.icl_regression.ridge import bayes_lambda, ridge_predict
from attnlab.icl_regression.synth import from_frame
from attnlab.runs import iter_runs, per_seed, seed_values_text, write_evaluation

# Thresholds of the claim check in shared/papers/icl_regression.md.
MSE_RATIO = 0.75  # multi-head: MSE(H=2) < 0.75 · MSE(H=1) at the training length
OFFDIAG_MAX, HOMOGENEITY_MAX = 0.1, 0.1  # KQ diagonal and homogeneous (every head)
LAST_ENTRY_MIN, ZERO_SUM_MAX = 0.95, 0.05  # OV last-entry-only (every head) and zero-sum
DGD_MAX = 0.05  # relative squared difference ‖ŷ − ŷ_DGD‖²/‖ŷ‖² (the unit of the spec's 0.2%)
LINEAR_BLOWUP = 2.0  # unnormalised linear attention: MSE(longest L) > 2 · MSE(L_train)
# Which seeds the H=2 claims are judged on (config `weight_claims_on`, see check_claims).
WEIGHT_CLAIMS_ON = ("all", "reached")
# Ours: a seed off the multi-head solution is "in the single-head solution" when its H=2 MSE is
# within 5% of H=1's (the spec's reference: 0.404 vs 0.406; calibration: 0.385-0.390 vs H=1's ~0.40).
SINGLE_HEAD_MSE_TOL = 0.05
# Ours, not the spec's (it gives none): "does not reach Bayes" = every softmax model's MSE at
# the training length is more than 10% above the ridge optimum's, well beyond test noise.
BAYES_GAP = 1.1


def predict(model: ICLAttention, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    z, zq, _ = prompt_tensors(x, y)
    with torch.no_grad():
        return model(z, zq).double().numpy()


def mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((pred - y[:, -1]) ** 2))


def evaluate_all(manifest: list[dict], test_lengths: list[int], train_length: int,
                 noise_var: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three frames: test MSE (one row per model, seed and length; ridge included as a model),
    runs (one row per run and seed) and heads (one row per head, with its KQ and OV)."""
    mse_rows, run_rows, head_rows, scored = [], [], [], set()
    prompts = lambda df: {L: from_frame(df, L) for L in test_lengths}  # noqa: E731
    for run in iter_runs(manifest, data=prompts, data_columns=("length", "prompt", "position", "y")):
        item, tests = run.item, run.data
        if item["data"] not in scored:  # ridge and the guess 0, once per test file, on the same prompts
            scored.add(item["data"])
            lam = bayes_lambda(noise_var, item["d"])
            mse_rows += [{"d": item["d"], "model": "ridge", "seed_index": item["seed_index"],
                          "length": L, "mse": mse(ridge_predict(x, y, lam), y)}
                         for L, (x, y) in tests.items()]
            mse_rows += [{"d": item["d"], "model": "zero", "seed_index": item["seed_index"],
                          "length": L, "mse": mse(np.zeros(len(y)), y)}
                         for L, (x, y) in tests.items()]
        model = ICLAttention.from_run_dir(run.dir)
        for L, (x, y) in tests.items():
            mse_rows.append({"d": item["d"], "model": item["run"], "seed_index": item["seed_index"],
                             "length": L, "mse": mse(predict(model, x, y), y)})
        kq, ov = model.kq().detach().double().numpy(), model.ov().detach().double().numpy()
        heads = head_patterns(kq, ov)
        x, y = tests[train_length]
        pred = predict(model, x, y)
        eta_value = eta([h["omega"] for h in heads], [h["mu"] for h in heads])
        dgd = dgd_predict(x, y, eta_value)
        zs = zero_sum([h["mu"] for h in heads]) if item["heads"] > 1 else float("nan")
        run_rows.append({
            "d": item["d"], "run": item["run"], "mechanism": item["mechanism"],
            "heads": item["heads"], "seed_index": item["seed_index"], "seed": item["seed"],
            "zero_sum": zs, "multi_head_solution": bool(zs < ZERO_SUM_MAX) if item["heads"] > 1 else None,
            "eta": eta_value, "dgd_rel_diff": relative_squared_difference(pred, dgd), "dgd_mse": mse(dgd, y),
            "max_offdiag_ratio": max(h["offdiag_ratio"] for h in heads),
            "max_homogeneity": max(h["homogeneity"] for h in heads),
            "min_last_entry_ratio": min(h["last_entry_ratio"] for h in heads),
            "final_train_loss": run.final_train_loss, "train_wall_s": run.train_wall_s,
        })
        head_rows += [{"d": item["d"], "run": item["run"], "seed_index": item["seed_index"], **h,
                       "kq": kq[h["head"]].ravel().tolist(), "ov": ov[h["head"]].tolist()}
                      for h in heads]
    return pd.DataFrame(mse_rows), pd.DataFrame(run_rows), pd.DataFrame(head_rows)


def competence_values(mse_df: pd.DataFrame, *, d: int, train_length: int) -> dict[str, dict[int, float]]:
    """model -> seed -> the share of the gap between predicting 0 and ridge (the Bayes optimum)
    that the model's test MSE at the training length closes (attnlab.claims.gap_closed)."""
    m = mse_df[(mse_df["d"] == d) & (mse_df["length"] == train_length)]
    at = {model: per_seed(m, "mse", model=model, length=train_length) for model in m["model"].unique()}
    if not {"zero", "ridge"} <= set(at):
        raise AttnlabError("icl_regression: the competence gate needs the MSE of predicting 0 and of ridge")
    return {model: {s: gap_closed(v, at["zero"][s], at["ridge"][s]) for s, v in vals.items()}
            for model, vals in at.items() if model not in ("zero", "ridge")}


def check_claims(mse_df: pd.DataFrame, runs: pd.DataFrame, *, d: int, train_length: int,
                 longest: int, softmax_heads: list[int], linear_attention: list[str],
                 scale: str, gap_bar: float, weight_claims_on: str = "all") -> list[dict]:
    """The claim rows of shared/papers/icl_regression.md from the measured frames. Every paper and
    caveat row is gated on the competence of the models it compares (competence_values ≥ gap_bar).

    `weight_claims_on`: the seeds the H=2 claims (MSE against H=1, KQ, OV, debiased GD) are judged
    on: "all" (the spec's check: every seed), or "reached": the seeds whose H=2 model reached the
    multi-head solution (zero-sum < ZERO_SUM_MAX), each row naming the seeds left out; then whether
    training reaches that solution is its own row (every seed), and the zero-sum, being the
    selection, leaves the OV row."""
    if weight_claims_on not in WEIGHT_CLAIMS_ON:
        raise AttnlabError(f"icl_regression: weight_claims_on = {weight_claims_on!r} (choose from {WEIGHT_CLAIMS_ON})")
    m, r = mse_df[mse_df["d"] == d], runs[runs["d"] == d]
    if not {1, 2} <= set(softmax_heads):
        raise AttnlabError("icl_regression claims need softmax_heads to include 1 and 2")
    at = lambda model, L: per_seed(m, "mse", model=model, length=L)  # noqa: E731
    h1, h2, ridge = at("softmax-h1", train_length), at("softmax-h2", train_length), at("ridge", train_length)
    seeds = sorted(h2)
    f2 = lambda v: seed_values_text(v, seeds, ".3f")  # noqa: E731
    claims = ClaimSet("icl_regression", PAPER, scale=scale, seeds=seeds, trained=True)
    where = f"d={d}, L={train_length}"
    closed = competence_values(mse_df, d=d, train_length=train_length)

    def gate(models: list[str], on: list[int] | None = None) -> Competence:
        return Competence(f"share of the predict-0-to-ridge MSE gap closed at L={train_length} (least of "
                          f"{', '.join(models)})", gap_bar,
                          {s: min(closed[model][s] for model in models) for s in (seeds if on is None else on)})

    off, hom = per_seed(r, "max_offdiag_ratio", run="softmax-h2"), per_seed(r, "max_homogeneity", run="softmax-h2")
    last, zs = per_seed(r, "min_last_entry_ratio", run="softmax-h2"), per_seed(r, "zero_sum", run="softmax-h2")
    dgd = per_seed(r, "dgd_rel_diff", run="softmax-h2")
    reached = [s for s in seeds if zs[s] < ZERO_SUM_MAX]
    on, scope = seeds, ""
    if weight_claims_on == "reached":
        on = reached
        left = [s for s in seeds if s not in reached]
        scope = (f" — on the seeds whose H=2 model reached the multi-head solution (zero-sum < {ZERO_SUM_MAX}): "
                 f"{len(reached)} of {len(seeds)}"
                 + (f"; left out: seed {', '.join(map(str, left))} (zero-sum {seed_values_text(zs, left, '.2f')})"
                    if left else ""))
        single = {s: abs(h2[s] / h1[s] - 1.0) < SINGLE_HEAD_MSE_TOL for s in seeds}
        claims.add(
            kind="caveat",
            claim="Caveat (the spec's seed dependence): at the mini budget (≪ the paper's 500k steps) training "
                  "reaches the multi-head solution on some seeds only; every other seed stays in the single-head "
                  "solution (the heads' label weights of one sign, the MSE of H=1), no third outcome",
            metric=f"H=2 zero-sum |Σμ_h|/Σ|μ_h| and MSE(H=2)/MSE(H=1), {where}; share of seeds reaching zero-sum "
                   f"< {ZERO_SUM_MAX}",
            threshold=f"every seed in one of the two: zero-sum < {ZERO_SUM_MAX} (multi-head), or zero-sum > "
                      f"{1 - ZERO_SUM_MAX:g} with MSE(H=2) within {SINGLE_HEAD_MSE_TOL:.0%} of MSE(H=1) (single-head); "
                      "the share is reported, not judged (3 seeds cannot decide a share near one half)",
            paper_value="the spec's reference runs at 8k steps: 2 of 3 seeds; our calibration: 6 of 9 seeds at "
                        "8k-16k steps, the rest at zero-sum 1.00 throughout; the paper (500k steps) shows the "
                        "multi-head solution",
            measured=f"reached on {len(reached)} of {len(seeds)} seeds; zero-sum {f2(zs)}; MSE H=2 {f2(h2)}, "
                     f"H=1 {f2(h1)}",
            per_seed_pass=[zs[s] < ZERO_SUM_MAX or (zs[s] > 1 - ZERO_SUM_MAX and single[s]) for s in seeds],
            per_seed_values={"zero_sum": zs, "multi_head_solution": {s: s in reached for s in seeds},
                             "mse_h2": h2, "mse_h1": h1},
            competence=gate(["softmax-h1", "softmax-h2"]),
        )
    f_on = lambda v, fmt=".3f": seed_values_text(v, on, fmt) if on else "no seed"  # noqa: E731
    every = "on every seed" + (" that reached it" if weight_claims_on == "reached" else "")

    def add(**row) -> None:
        claims.add(kind="paper", seeds=on, **{**row, "claim": row["claim"] + scope})

    add(claim="Multi-head softmax attention beats single-head on in-context linear regression",
        metric=f"test MSE of H=2 vs H=1, {where}",
        threshold=f"MSE(H=2) < {MSE_RATIO}·MSE(H=1) {every}",
        paper_value="H=2 ≈ 0.24 (DGD at fitted (ω, μ) 0.243), H=1 ≈ 0.40",
        measured=f"H=2 {f_on(h2)}; H=1 {f_on(h1)}",
        per_seed_pass=[h2[s] < MSE_RATIO * h1[s] for s in on],
        per_seed_values={"mse_h2": h2, "mse_h1": h1},
        competence=gate(["softmax-h1", "softmax-h2"], on))
    add(claim="Trained KQ is diagonal and homogeneous (H=2, every head)",
        metric=f"max over heads of off-diagonal ratio and homogeneity of KQ_h[:d,:d], {where}",
        threshold=f"off-diagonal < {OFFDIAG_MAX} and homogeneity < {HOMOGENEITY_MAX} {every}",
        paper_value="diagonal, homogeneous (mini reference run: 0.02 / 0.009)",
        measured=f"off-diagonal {f_on(off)}; homogeneity {f_on(hom)}",
        per_seed_pass=[off[s] < OFFDIAG_MAX and hom[s] < HOMOGENEITY_MAX for s in on],
        per_seed_values={"offdiag_ratio": off, "homogeneity": hom},
        competence=gate(["softmax-h2"], on))
    if weight_claims_on == "reached":
        add(claim="Trained OV reads only the label entry (H=2, every head); its label weights sum to zero across "
                  "heads by the selection",
            metric=f"min over heads of last-entry ratio |μ_h|/‖OV_h‖, {where}",
            threshold=f"last-entry > {LAST_ENTRY_MIN} {every}",
            paper_value="last-entry-only, zero-sum (mini reference run: 1.000 / 0.003)",
            measured=f"last-entry {f_on(last)}; zero-sum {f_on(zs)}",
            per_seed_pass=[last[s] > LAST_ENTRY_MIN for s in on],
            per_seed_values={"last_entry_ratio": last, "zero_sum": zs},
            competence=gate(["softmax-h2"], on))
    else:
        add(claim="Trained OV reads only the label entry, with label weights summing to zero across heads (H=2)",
            metric=f"min over heads of last-entry ratio |μ_h|/‖OV_h‖; zero-sum |Σμ_h|/Σ|μ_h|, {where}",
            threshold=f"last-entry > {LAST_ENTRY_MIN} and zero-sum < {ZERO_SUM_MAX} {every}",
            paper_value="last-entry-only, zero-sum (mini reference run: 1.000 / 0.003)",
            measured=f"last-entry {f_on(last)}; zero-sum {f_on(zs)}",
            per_seed_pass=[last[s] > LAST_ENTRY_MIN and zs[s] < ZERO_SUM_MAX for s in on],
            per_seed_values={"last_entry_ratio": last, "zero_sum": zs},
            competence=gate(["softmax-h2"], on))
    add(claim="The H=2 model implements debiased GD: ŷ = (η/L) Σ_l y_l (x_l − x̄)ᵀ x_q, η = Σ_h ω_h μ_h",
        metric=f"relative squared difference ‖ŷ_model − ŷ_DGD‖²/‖ŷ_model‖² with the model's own (ω, μ), {where}",
        threshold=f"< {DGD_MAX:.0%} {every} (the spec's 5%, in the squared unit of its reference 0.2%)",
        paper_value="matches (the spec's mini reference run: 0.2%, the same squared ratio)",
        measured=f_on(dgd, ".1%"),
        per_seed_pass=[dgd[s] < DGD_MAX for s in on],
        per_seed_values={"dgd_rel_diff": dgd},
        competence=gate(["softmax-h2"], on))
    softmax_runs = [f"softmax-h{h}" for h in softmax_heads]
    rise = {run: {s: at(run, longest)[s] / at(run, train_length)[s] for s in seeds} for run in softmax_runs}
    worst = {s: max(rise[run][s] for run in softmax_runs) for s in seeds}
    if "linear-fixed" in linear_attention:
        blow = {s: at("linear-fixed", longest)[s] / at("linear-fixed", train_length)[s] for s in seeds}
        claims.add(
            kind="paper",
            claim="Softmax attention generalises to longer prompts than trained on; unnormalised "
                  "linear attention does not",
            metric=f"MSE(L={longest}) / MSE(L={train_length}), worst softmax model (H ∈ "
                   f"{softmax_heads}) and linear attention with fixed 1/L_train, d={d}",
            threshold=f"softmax ratio ≤ 1 and unnormalised linear ratio > {LINEAR_BLOWUP:g} on every seed",
            paper_value="softmax generalises; linear attention does not",
            measured=f"softmax (worst) {f2(worst)}; unnormalised linear {f2(blow)}",
            per_seed_pass=[worst[s] <= 1.0 and blow[s] > LINEAR_BLOWUP for s in seeds],
            per_seed_values={"softmax_worst_ratio": worst, "linear_fixed_ratio": blow},
            competence=gate([*softmax_runs, "linear-fixed"]),
        )
    if "linear-length" in linear_attention:
        norm = {s: at("linear-length", longest)[s] / at("linear-length", train_length)[s] for s in seeds}
        claims.add(
            kind="caveat",
            claim="Caveat (ours): 1/L-normalised linear attention generalises in length as well as "
                  "softmax, so the length claim holds only against the unnormalised form",
            metric=f"MSE(L={longest}) / MSE(L={train_length}) of 1/L-normalised linear attention, d={d}",
            threshold="ratio ≤ 1 on every seed (the softmax criterion above)",
            paper_value="not reported (the paper compares against unnormalised linear attention)",
            measured=f"normalised linear {f2(norm)}; softmax (worst) {f2(worst)}",
            per_seed_pass=[norm[s] <= 1.0 for s in seeds],
            per_seed_values={"linear_length_ratio": norm},
            competence=gate(["linear-length"]),
        )
    best = {s: min(at(run, train_length)[s] for run in softmax_runs) for s in seeds}
    claims.add(
        kind="caveat",
        claim="Caveat: multi-head softmax attention approaches but does not reach the Bayes-optimal "
              "ridge predictor",
        metric=f"best softmax MSE (H ∈ {softmax_heads}) / ridge MSE (λ = σ²d), {where}",
        threshold=f"ratio > {BAYES_GAP} on every seed (our threshold; the spec gives none)",
        paper_value="0.243 vs ridge 0.115",
        measured=f"best softmax {f2(best)}; ridge {f2(ridge)}",
        per_seed_pass=[best[s] > BAYES_GAP * ridge[s] for s in seeds],
        per_seed_values={"best_softmax_mse": best, "ridge_mse": ridge},
        competence=gate(softmax_runs),
    )
    claims.not_reproduced("The same mechanism with anisotropic covariates and in multi-task regression",
                          why="these task variants are not implemented in attnlab", kind="paper")
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    if p["train_length"] not in p["test_lengths"]:
        raise AttnlabError("icl_regression: test_lengths must include train_length")
    mse_df, runs, heads = evaluate_all(p["manifest"], p["test_lengths"], p["train_length"], p["noise_var"])
    claims = check_claims(mse_df, runs, d=p["primary_d"], train_length=p["train_length"],
                          longest=max(p["test_lengths"]), softmax_heads=p["softmax_heads"],
                          linear_attention=p["linear_attention"], scale=p["scale"],
                          gap_bar=p["competence"]["gap_closed"],
                          weight_claims_on=p.get("weight_claims_on", "all"))
    write_evaluation(args, "icl_regression", claims, {"mse": mse_df, "runs": runs, "heads": heads}, started=t0,
                     work_s=runs["train_wall_s"].fillna(0).sum())


if __name__ == "__main__":
    run_step(main, description=__doc__)
