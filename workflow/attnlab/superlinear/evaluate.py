"""Evaluate every superlinear run and sweep, and check the spec's claims over seeds.

NIAH: exact match per query (both value tokens right, teacher-forced argmax), per (variant, seed,
test length, needle depth bin {0, .25, .5, .75, 1}). Routing recall (superlinear): the share of
queries at whose answer position at least one last-layer head keeps the needle's span.
Competence gate: a seed counts only when its dense model reaches `competence.dense_niah` at the
training length (mean over every query): the task is learnt by the baseline.

S1 (cost exponent): per timing sweep, the log-log slope of the span-search op's CPU time against L
and of dense causal SDPA's; a sweep whose dense slope is below `quadratic_floor` is not in its
quadratic regime (the instrument's gate: INCONCLUSIVE). S2 (learnable routing): superlinear mean
NIAH >= dense - 10 points and >= sliding window + 20 points at the claim depths (where the needle
lies outside the window), both at the training length. Structural non-exclusion is a check of the
implementation's candidate spans on the test lengths.
"""

from __future__ import annotations

import time

import pandas as pd
from transformers import AutoModelForCausalLM

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.claims import ClaimSet, Competence, conjunction
from attnlab.cli import StepArgs, run_step
from attnlab.io import read_parquets
from attnlab.metrics.scaling import crossover, power_law
from attnlab.runs import iter_runs, seed_values_text, write_evaluation
from attnlab.superlinear import PAPER
from attnlab.superlinear.metrics import depth_bin, score_queries

VS_DENSE = -0.10  # superlinear >= dense - 10 points
VS_SWA = 0.20  # superlinear >= sliding window + 20 points at the claim depths
DATA_COLUMNS = ("input_ids", "target_mask", "seq_len", "depth", "answer_pos", "value_pos")


def evaluate_runs(manifest: list[dict], *, span: int, value_len: int, batch_size: int) -> pd.DataFrame:
    frames = []
    for run in iter_runs(manifest, data=lambda df: df, data_columns=DATA_COLUMNS):
        model = AutoModelForCausalLM.from_pretrained(run.dir).eval()
        routed = span if run.item["variant"] == "superlinear" else None
        q = score_queries(model, run.data, value_len, batch_size, span=routed)
        frames.append(q.assign(**run.keys("variant", "seed_index", "seed"), train_wall_s=run.train_wall_s,
                               final_train_loss=run.final_train_loss))
    q = pd.concat(frames, ignore_index=True)
    q["depth_bin"] = depth_bin(q["depth"])
    return q


def accuracy_table(q: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (v, s, L, d), g in q.groupby(["variant", "seed_index", "seq_len", "depth_bin"]):
        routed = g["routed"].astype(float)
        rows.append({"variant": v, "seed_index": int(s), "seq_len": int(L), "depth": float(d),
                     "accuracy": float(g.correct.mean()), "routing_recall": float(routed.mean()),
                     "n_queries": len(g), "outside_window": float((g.distance >= 0).mean())})
    return pd.DataFrame(rows)


def fits(sweeps: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for seed, g in sweeps.groupby("seed_index"):
        curve = {op: go.sort_values("L") for op, go in g.groupby("op")}
        dense = power_law(curve["dense_sdpa"]["L"], curve["dense_sdpa"]["seconds"])
        # the instrument: SDPA without a mask (exactly L² work), or the causal one in sweeps made before it
        full = curve.get("dense_sdpa_full", curve["dense_sdpa"])
        instrument = power_law(full["L"], full["seconds"])
        sl = power_law(curve["superlinear"]["L"], curve["superlinear"]["seconds"])
        theory = power_law(curve["superlinear"]["L"], curve["superlinear"]["flops"])
        rows.append({"seed_index": int(seed), "superlinear_slope": sl.slope, "superlinear_low": sl.low,
                     "superlinear_high": sl.high, "dense_slope": instrument.slope, "dense_low": instrument.low,
                     "dense_high": instrument.high, "dense_causal_slope": dense.slope, "analytic_slope": theory.slope, "crossover_L": crossover(dense, sl),
                     "ratio_at_max_L": float(curve["superlinear"]["seconds"].iloc[-1] /
                                             curve["dense_sdpa"]["seconds"].iloc[-1]),
                     "max_L": int(curve["superlinear"]["L"].iloc[-1])})
        if "superlinear_span_major" in curve:  # ours, reported beside the spec's implementation
            sm = curve["superlinear_span_major"]
            fit = power_law(sm["L"], sm["seconds"])
            rows[-1].update({"span_major_slope": fit.slope, "span_major_crossover_L": crossover(dense, fit),
                             "span_major_ratio_at_max_L": float(sm["seconds"].iloc[-1] /
                                                                curve["dense_sdpa"]["seconds"].iloc[-1])})
    return pd.DataFrame(rows)


def non_exclusion(lengths, span: int) -> float:
    """The share of (query i, key s <= i) pairs whose key lies in a candidate span of query i or in
    its own block, over the test lengths (1 by construction of the block grid)."""
    import torch

    from attnlab.attention.base import causal_mask
    from attnlab.attention.superlinear import span_candidates

    covered = total = 0
    for T in lengths:
        cand, is_own, _ = span_candidates(causal_mask(T, "cpu")[None, None], span)
        reach = (cand[0, 0] | is_own)  # (T, n)
        blocks = torch.arange(T) // span
        ok = reach[:, blocks] & causal_mask(T, "cpu")  # (query, key): the key's span is reachable
        covered += int(ok.sum())
        total += T * (T + 1) // 2
    return covered / total


def check_claims(acc: pd.DataFrame, f: pd.DataFrame, *, train_len: int, claim_depths, bar: float, band,
                 floor: float, span: int, top_k: int, window: int, lengths, timing_lengths, scale: str,
                 coverage: float) -> list[dict]:
    at = acc[acc.seq_len == train_len]
    seeds = sorted(int(s) for s in acc.seed_index.unique())

    def mean(v, depths=None):
        g = at[at.variant == v]
        if depths is not None:
            g = g[g.depth.isin(depths)]
        tot = g.groupby("seed_index").apply(lambda x: (x.accuracy * x.n_queries).sum() / x.n_queries.sum(),
                                            include_groups=False)
        return {s: float(tot[s]) if s in tot.index else None for s in seeds}

    dense = mean("dense")
    gate = Competence(f"dense NIAH exact match at the training length {train_len} (every query)", bar, dense)
    claims = ClaimSet("superlinear", PAPER, scale=scale, seeds=seeds, competence=gate)

    # S1: the cost exponent, gated on the instrument's quadratic regime
    sweep_seeds = sorted(int(s) for s in f.seed_index.unique())
    sl = dict(zip(f.seed_index, f.superlinear_slope))
    dn = dict(zip(f.seed_index, f.dense_slope))
    instrument = Competence("dense SDPA (no mask) time exponent", floor, dn, label="sweep not in its quadratic regime")
    lo, hi = band
    claims.add(kind="paper", claim="Causal attention as a 2-step span search costs O(L^{1+1/N}) = O(L^{3/2})",
               metric=f"log-log slope of the span-search op's forward CPU time (gathered implementation, 1 thread, "
                      f"B=1, 1 head, b = round(√L), k={top_k}) over L ∈ {{{', '.join(map(str, timing_lengths))}}}",
               threshold=f"slope ∈ [{lo:g}, {hi:g}] (with dense SDPA's slope ≥ {floor:g}, no mask: exactly L² work)",
               paper_value="O(L^{3/2}) (N=2); O(L^{1.54}) in the upscaled configuration",
               measured=f"superlinear {seed_values_text(sl, sweep_seeds)}; dense SDPA {seed_values_text(dn, sweep_seeds)}",
               per_seed_pass=[lo <= sl[s] <= hi for s in sweep_seeds], seeds=sweep_seeds,
               per_seed_values={"superlinear_slope": sl, "dense_slope": dn}, competence=instrument)

    # S2: learnable routing (NIAH against dense and a same-budget sliding window)
    variants = set(at.variant)
    claim = (f"Routed span selection is learnable: span search (b={span}, k={top_k}) matches dense attention on "
             f"NIAH and beats a sliding window of the same budget (w={window}) where the needle is outside it")
    threshold = (f"superlinear ≥ dense − {-VS_DENSE * 100:.0f} pts (every query) and ≥ sliding window + "
                 f"{VS_SWA * 100:.0f} pts at depths {claim_depths}, length {train_len}, every seed")
    if not {"dense", "superlinear", "swa"} <= variants:
        claims.add(kind="paper", claim=claim, metric=f"NIAH exact match at length {train_len}", threshold=threshold,
                   paper_value="strong NIAH up to 256K tokens", per_seed_pass=[None] * len(seeds),
                   measured=f"not measured: needs variants dense, superlinear, swa (have {sorted(variants)})")
    else:
        sup, sup_far, swa_far = mean("superlinear"), mean("superlinear", claim_depths), mean("swa", claim_depths)
        routed = at[at.variant == "superlinear"].groupby("seed_index").apply(
            lambda x: (x.routing_recall * x.n_queries).sum() / x.n_queries.sum(), include_groups=False)
        ok = [conjunction([sup[s] >= dense[s] + VS_DENSE, sup_far[s] >= swa_far[s] + VS_SWA]) for s in seeds]
        claims.add(kind="paper", claim=claim,
                   metric=f"NIAH exact match per query at length {train_len} (mean over queries; far: depths "
                          f"{claim_depths}); routing recall of the superlinear models beside it",
                   threshold=threshold, paper_value="strong NIAH up to 256K tokens (no table read)",
                   measured="; ".join(f"seed {s}: superlinear {sup[s]:.3f} (far {sup_far[s]:.3f}), dense {dense[s]:.3f}, "
                                      f"window far {swa_far[s]:.3f}, routing recall {float(routed.get(s, float('nan'))):.2f}"
                                      for s in seeds),
                   per_seed_pass=ok, per_seed_values={"superlinear": sup, "superlinear_far": sup_far, "dense": dense,
                                                      "swa_far": swa_far})

    claims.add(kind="check", claim="Structural non-exclusion: every key a query may see lies in a span it can select",
               metric=f"share of (query i, key ≤ i) pairs whose key's span is a candidate of i or its own block, "
                      f"lengths {list(lengths)}, b={span}",
               threshold="= 1 (by construction of the block grid)", paper_value="every eligible position selectable",
               measured=f"{coverage:.4f}", per_seed_pass=[coverage == 1.0] * len(seeds))
    why_systems = "needs the modified 30B hybrid MoE and a B200 GPU; this project runs toy models on 2 CPU cores"
    claims.not_reproduced("Decoding at 114 tok/s at 1M context and 80 tok/s at 10M (O(L^{1.54}) configuration)",
                          why=why_systems, kind="paper")
    claims.not_reproduced("Strong NIAH up to 256K tokens after limited training", kind="paper",
                          why="context lengths beyond a few hundred tokens are out of a CPU budget; tested at "
                              f"{list(lengths)}")
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    q = evaluate_runs(p["manifest"], span=p["span"], value_len=p["value_len"], batch_size=p["eval_batch_size"])
    q["distance"] = q["distance"] - p["window"]  # >= 0: the needle's v1 lies outside the window
    acc = accuracy_table(q)
    sweeps = read_parquets(args.inputs.get("sweeps", []), ["seed_index", "op", "L", "seconds", "flops"], "sweeps")
    f = fits(sweeps)
    lengths = sorted(int(x) for x in q.seq_len.unique())
    claims = check_claims(acc, f, train_len=p["train_len"], claim_depths=p["claim_depths"],
                          bar=float(p["competence"]["dense_niah"]), band=p["slope_band"], floor=p["quadratic_floor"],
                          span=p["span"], top_k=p["top_k"], window=p["window"], lengths=lengths,
                          timing_lengths=p["timing_lengths"], scale=p["scale"],
                          coverage=non_exclusion(lengths, p["span"]))
    write_evaluation(args, "superlinear", claims, {"queries": q, "accuracy": acc, "fits": f}, started=t0,
                     work_s=q.groupby(["variant", "seed_index"]).train_wall_s.first().sum())


if __name__ == "__main__":
    run_step(main, description=__doc__)
