"""Fit every sweep's cost curves and check them against theory: the instrument first (dense SDPA
without a mask must show its quadratic regime, else every timing check of that sweep is
unmeasured), then each mechanism's time exponent against its cost model's exponent over the
sweep's lengths (attention_costs.cost_model.exponent_at; explicit-pattern mechanisms up to the measured
exponent of a memory-bound pass over the pattern, superlinear up to that of its gather), and the
exponents of the saved activations beyond their linear part. All rows are checks of our own
implementations, not paper claims. Each curve's gap to its cost model gets a reason from the sweep's
own instruments (`gap_reasons`), which the table prints."""

from __future__ import annotations

import time

import pandas as pd

from attnlab import AttnlabError
from attnlab.attention_costs import PAPER
from attnlab.attention_costs.cost_model import CAUSAL_KERNEL, causal_flash_fraction, exponent_at
from attnlab.attention_costs.theory import INSTRUMENTS, MECHANISMS, PASSES, memory_bound_pass
from attnlab.claims import ClaimSet, Competence
from attnlab.cli import StepArgs, run_step
from attnlab.io import read_parquets
from attnlab.metrics.scaling import beyond_linear, crossover, power_law
from attnlab.runs import seed_values_text, write_evaluation


def memory_exponent(L, saved) -> float:
    """The exponent of the saved bytes' growth beyond the linear part (scaling.beyond_linear: exact counts,
    second differences cancel the projections' linear share); 1.0 where the bytes are affine in L."""
    p = beyond_linear(L, saved)
    return 1.0 if p is None else p


def fits(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, mechanism): the time and memory power laws and the crossover with dense SDPA."""
    rows = []
    for seed, g in sweeps.groupby("seed_index"):
        curves = {m: gm.sort_values("L") for m, gm in g.groupby("mechanism")}
        if "dense_sdpa" not in curves:
            raise AttnlabError(f"attention_costs: sweep {seed} has no dense_sdpa reference")
        # the crossover of a (causal) mechanism is with the causal kernel, where the sweep has it
        ref = curves.get("dense_sdpa_causal", curves["dense_sdpa"])
        dense = power_law(ref["L"], ref["seconds"])
        for m, gm in curves.items():
            t = power_law(gm["L"], gm["seconds"])
            mem = power_law(gm["L"], gm["saved_bytes"].clip(lower=1))
            cross = None if m in INSTRUMENTS else crossover(dense, t)
            rows.append({"seed_index": int(seed), "mechanism": m, "time_slope": t.slope, "time_low": t.low,
                         "time_high": t.high, "memory_slope": mem.slope,
                         "memory_exponent": memory_exponent(gm["L"].tolist(), gm["saved_bytes"].tolist()),
                         "crossover_L": cross,
                         "ms_at_max_L": 1e3 * float(gm["seconds"].iloc[-1]), "max_L": int(gm["L"].iloc[-1])})
    return pd.DataFrame(rows)


def with_cost_model(f: pd.DataFrame, lengths: list[int], d_model: int, heads: int) -> pd.DataFrame:
    """The fits with each curve's cost-model slope over the sweep's lengths (what its measured slope is
    checked against; the table reads it from here)."""
    return f.assign(cost_model_slope=[exponent_at(m, lengths, d_model, heads) for m in f["mechanism"]])


def _within(slope: dict, target: float, tol: float, passes: dict | None, seeds) -> list[bool]:
    """Per seed: the slope within ±tol of the cost model, or (with a memory-bound pass) anywhere from the
    cost model − tol up to that pass's measured exponent + tol."""
    if passes is None:
        return [abs(slope[s] - target) <= tol for s in seeds]
    return [target - tol <= slope[s] <= max(target, passes[s]) + tol for s in seeds]


def causal_share(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Per L: the causal kernel's time over the full kernel's (median over seeds) beside the block model's share."""
    t = sweeps[sweeps["mechanism"].isin(["dense_sdpa", "dense_sdpa_causal"])]
    t = t.pivot_table(index=["seed_index", "L"], columns="mechanism", values="seconds").reset_index()
    t["share"] = t["dense_sdpa_causal"] / t["dense_sdpa"]
    out = t.groupby("L")["share"].median().reset_index()
    out["model"] = [causal_flash_fraction(int(L)) for L in out["L"]]
    return out


def gap_reasons(f: pd.DataFrame, tol: float, share: pd.DataFrame | None = None,
                floor: float | None = None, kernel: tuple[list[int], int, int] | None = None) -> dict[str, str]:
    """Per mechanism: why its measured time exponent lies where it does against the cost model — from
    the sweep's own instruments, or 'not explained'. The table prints it (issue 15: within 0.1 of
    theory, or the gap explained). A sweep whose dense instrument is under `floor` measures nothing."""
    seeds = sorted(f["seed_index"].unique().tolist())
    slope = {m: dict(zip(g["seed_index"], g["time_slope"])) for m, g in f.groupby("mechanism")}
    target = {m: float(g["cost_model_slope"].iloc[0]) for m, g in f.groupby("mechanism")}
    below = [s for s in seeds if floor is not None and slope["dense_sdpa"][s] < floor]
    lengths, d_model, heads = kernel or ([], 0, 0)  # (the sweep's lengths, d_model, heads) for the kernel rule
    reasons = {}
    for m in slope:
        if m == "dense_sdpa" or m in PASSES:
            reasons[m] = "an instrument"
            continue
        if below:
            reasons[m] = (f"unmeasured: the sweep is not in its quadratic regime (dense SDPA "
                          f"{seed_values_text(slope['dense_sdpa'], seeds)} < {floor:g})")
            continue
        ok = _within(slope[m], target[m], tol, None, seeds)
        if all(ok):
            reasons[m] = f"within ±{tol:g} of the cost model"
            continue
        steeper = all(slope[m][s] > target[m] + tol for s in seeds)
        flatter = all(slope[m][s] < target[m] - tol for s in seeds)
        bound = memory_bound_pass(m)
        if steeper and bound in slope and all(_within(slope[m], target[m], tol, slope[bound], seeds)):
            reasons[m] = (f"memory-bound: between the FLOP model ({target[m]:.2f}) and the {bound} instrument "
                          f"({seed_values_text(slope[bound], seeds)}, + {tol:g})")
            continue
        if any(ok):
            reasons[m] = (f"seeds disagree ({seed_values_text(slope[m], seeds)}): the timing noise of this machine "
                          f"exceeds ±{tol:g}; more repeats or an idle machine decide it")
            continue
        if m in CAUSAL_KERNEL and kernel is not None:
            fixed = {s: exponent_at(m, lengths, d_model, heads, kernel_exponent=slope["dense_sdpa"][s]) for s in seeds}
            if all(abs(slope[m][s] - fixed[s]) <= tol for s in seeds):
                reasons[m] = (f"the fused kernel itself measured {seed_values_text(slope['dense_sdpa'], seeds)} on "
                              f"this sweep, not 2 (its short end relatively slow); with that exponent the cost model "
                              f"gives {seed_values_text(fixed, seeds)}, within ±{tol:g}")
                continue
        first = share.iloc[0] if share is not None and len(share) else None
        if flatter and m in CAUSAL_KERNEL and first is not None and first.share > first.model + 0.1:
            rest = ", ".join(f"{r.share:.2f} vs {r.model:.2f}" for r in share.iloc[1:].itertuples())
            reasons[m] = (f"the causal kernel's measured share of the full kernel's time is {first.share:.2f} at "
                          f"L = {int(first.L)} where the block model says {first.model:.2f} (it skips no block "
                          f"there but masks the diagonal ones), then {rest}: the model's short end is too cheap, "
                          "so its exponent is too steep")
            continue
        reasons[m] = "not explained"
    return reasons


def check_claims(f: pd.DataFrame, *, scale: str, tol: float, floor: float, lengths: list[int]) -> list[dict]:
    """The checks on fits that carry `cost_model_slope` (`with_cost_model`)."""
    seeds = sorted(f["seed_index"].unique().tolist())
    model = {m: float(g["cost_model_slope"].iloc[0]) for m, g in f.groupby("mechanism")}
    slope = {m: dict(zip(g["seed_index"], g["time_slope"])) for m, g in f.groupby("mechanism")}
    mem = {m: dict(zip(g["seed_index"], g["memory_exponent"])) for m, g in f.groupby("mechanism") if m in MECHANISMS
           and m not in INSTRUMENTS}
    claims = ClaimSet("attention_costs", PAPER, scale=scale, seeds=seeds)
    sweep = f"forward CPU time of one layer (1 thread, median), L ∈ {{{', '.join(map(str, lengths))}}}"
    instrument = Competence("dense SDPA time exponent", floor, slope["dense_sdpa"],
                            label="sweep not in its quadratic regime")
    claims.add(kind="check", claim="The timing sweep is in its quadratic regime (dense attention without a mask "
                                   "costs ~L²)",
               metric=f"log-log slope of dense SDPA (no mask: every block computed); {sweep}", threshold=f"≥ {floor:g}",
               paper_value="2", measured=seed_values_text(slope["dense_sdpa"], seeds),
               per_seed_pass=[slope["dense_sdpa"][s] >= floor for s in seeds])
    for m, (_, _, (_, ours), _, note) in MECHANISMS.items():
        if m == "dense_sdpa" or m not in slope:
            continue
        target = model[m]
        bound = memory_bound_pass(m)
        passes = slope.get(bound) if bound else None
        if passes is not None:
            high = {s: max(target, passes[s]) + tol for s in seeds}
            threshold = (f"from {target - tol:.2f} (cost model {target:.2f} − {tol:g}) to the {bound}'s "
                         f"measured exponent + {tol:g} ({seed_values_text({s: high[s] for s in seeds}, seeds)})")
        else:
            threshold = f"within ±{tol:g} of {target:.2f}"
        claims.add(kind="check", claim=f"{m}: the measured time exponent matches our implementation's cost model "
                                       f"over the sweep's lengths ({target:.2f}; asymptotically {ours:g})",
                   metric=f"log-log slope of {m}; {sweep}", threshold=threshold,
                   paper_value=f"{target:.2f} at these lengths, {ours:g} asymptotically ({note})",
                   measured=seed_values_text(slope[m], seeds),
                   per_seed_pass=_within(slope[m], target, tol, passes, seeds),
                   per_seed_values={"time_slope": slope[m]}, competence=instrument)
    within = {s: all(abs(mem[m][s] - MECHANISMS[m][3]) <= tol for m in mem) for s in seeds}
    claims.add(kind="check", claim="Every mechanism's saved activations grow with the exponent its implementation "
                                   "predicts (1: fused kernel or a scan, 1.5: superlinear's gathered spans, 2: an "
                                   "explicit T x T pattern)",
               metric="exponent of the bytes autograd saves for backward beyond their linear part (log-log slope of "
                      "the second differences m(2L) − 2·m(L), which cancel the projections' linear share; 1 when "
                      "the bytes are affine in L), per mechanism",
               threshold=f"within ±{tol:g} of the theory column, every mechanism",
               paper_value=", ".join(f"{m} {MECHANISMS[m][3]:g}" for m in mem),
               measured="; ".join(f"{m} {seed_values_text(mem[m], seeds)}" for m in mem),
               per_seed_pass=[within[s] for s in seeds])
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    sweeps = read_parquets(args.inputs.get("sweeps", []), ["seed_index", "mechanism", "L", "seconds", "saved_bytes"],
                           "sweeps")
    f = fits(sweeps)
    lengths = sorted(sweeps["L"].unique().tolist())
    f = with_cost_model(f, lengths, p["d_model"], p["heads"])
    claims = check_claims(f, scale=p["scale"], tol=p["tolerance"], floor=p["quadratic_floor"], lengths=lengths)
    reasons = gap_reasons(f, p["tolerance"], causal_share(sweeps), p["quadratic_floor"],
                          kernel=(lengths, p["d_model"], p["heads"]))
    f["gap_reason"] = f["mechanism"].map(reasons)
    write_evaluation(args, "attention_costs", claims, {"fits": f}, started=t0, work_s=0.0)


if __name__ == "__main__":
    run_step(main, description=__doc__)
