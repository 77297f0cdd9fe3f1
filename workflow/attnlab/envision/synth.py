"""Envision prompts: synthesised from the world's rule families (one per domain) in Envision's
JSON schema with their ground-truth frames, or a real Envision JSON file read from `real_path`
and checked against that schema (it has no ground truth: truth is empty)."""

from __future__ import annotations

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_json
from attnlab.world.envision_prompts import read_envision, synthesize


def main(args: StepArgs) -> None:
    p = args.params
    if p.get("real_path"):
        records, truth = read_envision(p["real_path"]), {}
    else:
        records, truth = synthesize(int(p["n_prompts"]), int(p["seed"]))
    write_json(args.output("prompts"), records)
    write_json(args.output("truth"), {str(k): v for k, v in truth.items()})
    print(f"{len(records)} four-stage prompts ({'real' if p.get('real_path') else 'synthetic'})")


if __name__ == "__main__":
    run_step(main, description=__doc__)
