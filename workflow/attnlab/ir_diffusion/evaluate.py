"""Score every IR-Diffusion variant on every case: hidden-identity consistency of each target
subject with its reference image, subject fusion and caption accuracy of the target, with 95%
bootstrap intervals over cases; check the paper's claim (full IR against vanilla)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from attnlab import AttnlabError
from attnlab.claims import ClaimSet, Competence, conjunction, write_claims
from attnlab.cli import StepArgs, run_step
from attnlab.image_world.evaluate import read_competence
from attnlab.io import read_parquet, write_parquet
from attnlab.ir_diffusion import PAPER
from attnlab.metrics.bootstrap import bootstrap_mean, bootstrap_paired_diff, interval_verdict
from attnlab.vision.images import read_image_dirs
from attnlab.world.metrics import caption_accuracy, consistency, fusion, matched
from attnlab.world.parser import parse
from attnlab.world.scene import Scene

CASE_METRICS = ("consistency", "color_distance", "fusion", "strict")


def score_images(cases: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """One row per (seed, case, variant, subject): the subject's identity against its reference,
    plus the case-level fusion and strict caption accuracy of the target."""
    by_case = cases.set_index("case")
    rows = []
    for (seed, case, variant), g in images.groupby(["seed_index", "case", "variant"], sort=True):
        c = by_case.loc[case]
        target_scene = Scene.from_dict(json.loads(c["target_scene"]))
        target = g[g["role"] == "target"]
        if len(target) != 1:
            raise AttnlabError(f"ir_diffusion: case {case} variant {variant}: {len(target)} target images")
        parsed_target = parse(target["image"].iloc[0])
        got = matched(parsed_target, target_scene)
        fused = float(fusion(parsed_target, target_scene))
        strict = caption_accuracy(parsed_target, target_scene)["strict"]
        for i, ref_json in enumerate(c["ref_scenes"]):
            ref_scene = Scene.from_dict(json.loads(ref_json))
            ref_img = g[(g["role"] == "reference") & (g["subject"] == i)]
            if len(ref_img) != 1:
                raise AttnlabError(f"ir_diffusion: case {case} variant {variant}: no reference {i}")
            drawn = matched(parse(ref_img["image"].iloc[0]), ref_scene)[0]
            if drawn is None:  # the reference itself failed: identity undefined
                cons = {"present": got[i] is not None, "core_match": np.nan, "color_distance": np.nan}
            else:
                cons = consistency(drawn, got[i])
            rows.append({"seed_index": int(seed), "case": int(case), "variant": variant,
                         "n_subjects": int(c["n_subjects"]), "subject": i,
                         "reference_drawn": drawn is not None, "present": bool(cons["present"]),
                         "core_match": float(cons["core_match"]),
                         "color_distance": float(cons["color_distance"]),
                         "fusion": fused, "strict": float(strict)})
    return pd.DataFrame(rows)


def per_case(subjects: pd.DataFrame) -> pd.DataFrame:
    """Case-level values (the bootstrap unit): consistency = mean core match over the case's
    subjects whose reference was drawn."""
    return (subjects.groupby(["seed_index", "case", "variant", "n_subjects"], as_index=False)
            .agg(consistency=("core_match", "mean"), color_distance=("color_distance", "mean"),
                 fusion=("fusion", "first"), strict=("strict", "first")))


def summarise(cases: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Mean and 95% interval per (seed, variant, subject count or all, metric), and the paired
    difference from vanilla on the same cases."""
    rows = []
    groups = [("all", cases)] + [(str(k), g) for k, g in cases.groupby("n_subjects")]
    for subset, g in groups:
        for (s, variant), gv in g.groupby(["seed_index", "variant"]):
            base = g[(g["seed_index"] == s) & (g["variant"] == "vanilla")].set_index("case")
            gv = gv.set_index("case")
            for m in CASE_METRICS:
                mean, lo, hi = bootstrap_mean(gv[m], n_boot, seed)
                d = bootstrap_paired_diff(gv[m], base[m].reindex(gv.index), n_boot, seed)
                rows.append({"seed_index": int(s), "variant": variant, "subjects": subset, "metric": m,
                             "mean": mean, "low": lo, "high": hi,
                             "diff_vs_vanilla": d[0], "diff_low": d[1], "diff_high": d[2],
                             "n_cases": int(gv[m].notna().sum())})
    return pd.DataFrame(rows)


def check_claims(summary: pd.DataFrame, p: dict, gate: Competence) -> list[dict]:
    """The paper's claim, gated on the track's competence (image_world): a seed whose model does
    not draw what its caption says is under-trained, and the claim INCONCLUSIVE."""
    seeds = sorted(summary["seed_index"].unique().tolist())
    claims = ClaimSet("ir_diffusion", PAPER, scale=p["scale"], seeds=seeds, substitute=True, competence=gate)
    full = summary[(summary["variant"] == "full") & (summary["subjects"] == "all")].set_index(["seed_index", "metric"])
    per_seed, shown = [], []
    for s in seeds:
        c, f = full.loc[(s, "consistency")], full.loc[(s, "fusion")]
        checks = [interval_verdict(c["diff_low"], c["diff_high"], +1),
                  interval_verdict(f["diff_low"], f["diff_high"], -1)]
        per_seed.append(conjunction(checks))
        shown.append(f"seed {s}: Δcons {c['diff_vs_vanilla']:+.2f} [{c['diff_low']:+.2f}, {c['diff_high']:+.2f}], "
                     f"Δfusion {f['diff_vs_vanilla']:+.2f} [{f['diff_low']:+.2f}, {f['diff_high']:+.2f}]")
    claims.add(
        kind="paper",
        claim="Isolation + reposition attention (full IR) keeps multi-subject identity better than "
              "vanilla generation and removes subject fusion",
        metric="full IR − vanilla on the same cases: hidden-identity (core) match with the reference, "
               "and fusion rate; 95% bootstrap intervals over cases",
        threshold="consistency interval above 0 and fusion interval below 0 on every seed "
                  "(an interval containing 0: INCONCLUSIVE)",
        paper_value="full IR beats prior training-free methods on consistency (numbers not retrievable)",
        measured="; ".join(shown),
        per_seed_pass=per_seed,
        per_seed_values={"diff_consistency": {s: full.loc[(s, "consistency")]["diff_vs_vanilla"] for s in seeds},
                         "diff_fusion": {s: full.loc[(s, "fusion")]["diff_vs_vanilla"] for s in seeds}},
    )
    claims.not_reproduced(
        "Comparison with prior training-free consistency methods on real Stable Diffusion images",
        why="no pretrained text-to-image weights here; set vision.model.path to a local SD directory", kind="paper")
    return claims.rows


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    cases = read_parquet(args.input("cases"))
    images = read_image_dirs(args.inputs.get("images", []), "ir_diffusion evaluate")
    missing = sorted(set(p["variants"]) - set(images["variant"]))
    if missing:
        raise AttnlabError(f"ir_diffusion evaluate: no images of variant(s) {missing}")
    subjects = score_images(cases, images)
    summary = summarise(per_case(subjects), int(p["bootstrap"]), int(p.get("bootstrap_seed", 0)))
    write_parquet(args.output("subjects"), subjects)
    write_parquet(args.output("summary"), summary)
    gate = read_competence(args.inputs.get("competence"), float(p.get("competence_bar", 0.5)))
    write_claims(args.output("claims"), "ir_diffusion", check_claims(summary, p, gate), p, time.perf_counter() - t0)


if __name__ == "__main__":
    run_step(main, description=__doc__)
