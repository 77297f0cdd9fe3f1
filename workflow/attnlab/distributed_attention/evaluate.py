"""The distributed_attention claims from every process count's checks: D1 exactness, D2 memory
scaling, D3 communication volume (checks of our implementation, per input seed), and the paper's
claims, which need multi-GPU machines, as NOT RUN rows."""

from __future__ import annotations

import time

import pandas as pd

from attnlab import AttnlabError
from attnlab.claims import ClaimSet
from attnlab.cli import StepArgs, run_step
from attnlab.distributed_attention import PAPER
from attnlab.io import read_parquets
from attnlab.runs import write_evaluation

COLUMNS = ["method", "causal", "L", "seed", "P", "H", "d_head", "forward_err", "grad_err", "peak_score_elements",
           "peak_score_elements_analytic", "bytes_sent", "bytes_sent_analytic", "score_blocks", "wall_s",
           "max_L_P1", "max_L_P"]


def exact(g: pd.DataFrame, tol: float) -> bool:
    """D1: outputs and input gradients within `tol` of dense attention on every check."""
    return bool((g["forward_err"] <= tol).all() and (g["grad_err"] <= tol).all())


def peaks_match(g: pd.DataFrame) -> bool:
    """D2, counted: every rank's peak score buffer equals the analytic H·(L/P)² (ring) or (H/P)·L²."""
    return all(max(peaks) == analytic for peaks, analytic in zip(g["peak_score_elements"],
                                                                    g["peak_score_elements_analytic"]))


def bytes_match(g: pd.DataFrame, rel: float) -> bool:
    """D3: every rank's counted bytes within `rel` of the analytic volume (methods that have one)."""
    g = g[g["bytes_sent_analytic"].notna()]
    return all(abs(float(b) - a) <= rel * a for sent, a in zip(g["bytes_sent"], g["bytes_sent_analytic"]) for b in sent)


def length_growth(checks: pd.DataFrame, method: str = "ring") -> tuple[int, float]:
    """D2, feasibility: (largest P run, max feasible L at that P / at P=1) for `method` under the
    per-rank score cap."""
    g = checks[checks["method"] == method]
    top = g[g["P"] == g["P"].max()].iloc[0]
    return int(top["P"]), float(top["max_L_P"] / top["max_L_P1"])


def check_claims(checks: pd.DataFrame, *, seeds: list[int], scale: str, tol: float, rel_bytes: float,
                 growth_per_process: float) -> list[dict]:
    idx = list(range(len(seeds)))
    by_seed = [checks[checks["seed"] == s] for s in seeds]
    if any(g.empty for g in by_seed):
        raise AttnlabError(f"distributed_attention: no checks for input seeds {[s for s, g in zip(seeds, by_seed) if g.empty]}")
    procs = sorted(checks["P"].unique())
    sweep = (f"P ∈ {{{', '.join(map(str, procs))}}}, L ∈ {{{', '.join(map(str, sorted(checks['L'].unique())))}}}, "
             f"H = {int(checks['H'].iloc[0])}, d_head = {int(checks['d_head'].iloc[0])}, causal and not, fp32, gloo")
    claims = ClaimSet("distributed_attention", PAPER, scale=scale, seeds=idx)
    worst = [max(g["forward_err"].max(), g["grad_err"].max()) for g in by_seed]
    claims.add(kind="check", claim="D1: head-parallel, ring and Ulysses attention equal dense attention in the "
                                   "forward and backward pass",
               metric=f"max abs error of outputs and input gradients against one-process dense attention; {sweep}",
               threshold=f"≤ {tol:g} on every check", paper_value="exact (same math, split over processes)",
               measured=", ".join(f"{w:.1e}" for w in worst),
               per_seed_pass=[exact(g, tol) for g in by_seed],
               per_seed_values={"max_abs_err": dict(zip(idx, worst))})
    P, growth = length_growth(checks)
    bar = growth_per_process * P
    claims.add(kind="check", claim="D2: the per-rank score buffer is H·(L/P)² for ring and (H/P)·L² for head-"
                                   "parallel and Ulysses, so ring's feasible length grows with P",
               metric=f"counted peak score elements per rank vs the formula; ring's max feasible L under a 64 MB "
                      f"per-rank score cap at P = {P} over P = 1; {sweep}",
               threshold=f"counts equal the formula on every rank; growth ≥ {bar:g}× "
                         f"(the spec's 3.5× at P = 4, i.e. {growth_per_process:g}·P)",
               paper_value="(the spec's mini check; the paper reports ≈ 40× on 4 GPUs, below)",
               measured=f"counts {'equal' if all(peaks_match(g) for g in by_seed) else 'DIFFER'}; growth {growth:.2f}×",
               per_seed_pass=[peaks_match(g) and growth >= bar for g in by_seed])
    claims.add(kind="check", claim="D3: the bytes each rank sends match the analytic volume",
               metric=f"counted bytes per rank vs (P−1)·2·(L/P)·H·d·4 (ring) and 4·(P−1)/P·(L/P)·H·d·4 "
                      f"(Ulysses); {sweep}",
               threshold=f"within {rel_bytes:.0%} on every rank", paper_value="(the spec's mini check)",
               measured="all within" if all(bytes_match(g, rel_bytes) for g in by_seed) else "some outside",
               per_seed_pass=[bytes_match(g, rel_bytes) for g in by_seed])
    claims.not_reproduced("Distributed multi-head attention scales up attention computation by almost 40× on "
                          "four GeForce RTX 4090 GPUs against vanilla MHA",
                          "needs 4 GPUs; 2 CPU cores cannot show a parallel speed-up (the full-scale D4 "
                          "check in config/full.yaml runs it on a GPU cluster)", kind="paper")
    claims.not_reproduced("Longer context helps, but vanilla Transformers fail to exploit long-range "
                          "dependencies", "needs models trained with ring attention at 1k–64k tokens "
                          "(full scale)", kind="paper")
    claims.not_reproduced("Attention, convolution/FFT, state-space and kernel models fit one token-mixing "
                          "template", "a taxonomy, not a measurement", kind="paper")
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    checks = read_parquets(args.inputs.get("checks", []), COLUMNS, "checks")
    if checks.empty:
        raise AttnlabError("distributed_attention: no checks to evaluate")
    claims = check_claims(checks, seeds=p["input_seeds"], scale=p["scale"], tol=p["tolerance"],
                          rel_bytes=p["bytes_tolerance"], growth_per_process=p["growth_per_process"])
    write_evaluation(args, "distributed_attention", claims, {"metrics": checks}, started=t0,
                     work_s=checks["wall_s"].sum())


if __name__ == "__main__":
    run_step(main, description=__doc__)
