"""Envision prompts: synthesised from the world's rule families (one per domain) in Envision's
JSON schema with their ground-truth frames, or a real Envision JSON file read from `real_path`
and checked against that schema (it has no ground truth: truth is empty)."""

from __future__ import annotations

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_json
from attnlab.seeds import derive_seed
from attnlab.world.envision_prompts import read_envision, synthesize
from attnlab.world.scene import subject_sizes


def synthesize_seeds(n_prompts: int, seed: int, n_seeds: int) -> tuple[list[dict], dict[str, dict]]:
    """Every seed's own prompts (drawn from derive_seed(seed, "seed", s)), each record marked with
    its `seed_index`; indexes run on across seeds, so an index names one sequence and its truth."""
    records, truth = [], {}
    for s in range(n_seeds):
        recs, tr = synthesize(n_prompts, derive_seed(seed, "seed", s))
        offset = s * n_prompts
        for rec in recs:
            truth[str(rec["index"] + offset)] = tr[str(rec["index"])]
            records.append({**rec, "index": rec["index"] + offset, "seed_index": s})
    return records, truth


def main(args: StepArgs) -> None:
    p = args.params
    if p.get("real_path"):
        records, truth = read_envision(p["real_path"]), {}
    else:
        with subject_sizes(p.get("subject_sizes")):
            records, truth = synthesize_seeds(int(p["n_prompts"]), int(p["seed"]), int(p["seeds"]))
    write_json(args.output("prompts"), records)
    write_json(args.output("truth"), {str(k): v for k, v in truth.items()})
    print(f"{len(records)} four-stage prompts ({'real' if p.get('real_path') else 'synthetic'})")


if __name__ == "__main__":
    run_step(main, description=__doc__)
