"""Generate every case under every variant: the plain pass draws the references and the target
from one shared initial noise; the subjects' masks are read from those drawings; each IR variant
then regenerates references and target together on the same noise."""

from __future__ import annotations

import json

from tqdm.auto import tqdm

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.image_world.consistency import masks_of, plain, shared
from attnlab.image_world.images import write_image_dir
from attnlab.io import read_parquet
from attnlab.ir_diffusion import VARIANTS
from attnlab.seeds import derive_seed
from attnlab.world.scene import Scene


def main(args: StepArgs) -> None:
    p = args.params
    cases = read_parquet(args.input("cases"))
    components = load_pipeline(args.input("model"))
    sampling = {"steps": p["steps"], "guidance": p["guidance"]}
    records = []
    for c in tqdm(cases.itertuples(index=False), total=len(cases), desc="ir_diffusion cases", mininterval=5):
        ref_prompts, target_prompt = list(c.ref_captions), c.target_caption
        ref_scenes = [Scene.from_dict(json.loads(s)) for s in c.ref_scenes]
        target_scene = Scene.from_dict(json.loads(c.target_scene))
        noise = derive_seed(int(p["seed"]), "case", int(c.case))  # shared by references and target
        k = len(ref_prompts)
        drawn = plain(components, ref_prompts + [target_prompt], [noise] * (k + 1), sampling)
        found = masks_of(drawn, ref_scenes + [target_scene])
        ref_regions = [(m[0][0], m[1][0]) for m in found[:k]]
        target_region = (found[k][0], found[k][1])
        meta = {"seed_index": int(p["seed_index"]), "case": int(c.case), "n_subjects": k}
        for variant in p["variants"]:
            if VARIANTS[variant] is None:
                refs, target = drawn[:k], drawn[k]
            else:
                refs, target = shared(components, ref_prompts, [noise] * k, target_prompt, noise, ref_regions,
                                      target_region, VARIANTS[variant], p, sampling,
                                      seed=derive_seed(int(p["seed"]), "dropout", int(c.case)))
            records += [{"image": img, "variant": variant, "role": "reference", "subject": i, **meta,
                         "masks_found": bool(found[i][2][0])} for i, img in enumerate(refs)]
            records.append({"image": target, "variant": variant, "role": "target", "subject": -1, **meta,
                            "masks_found": bool(all(found[k][2]))})
    write_image_dir(args.output("images"), records)
    print(f"{len(records)} images")


if __name__ == "__main__":
    run_step(main, description=__doc__)
