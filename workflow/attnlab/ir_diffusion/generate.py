"""Generate every case under every variant: the plain pass draws the references and the target
from one shared initial noise; the subjects' masks are read from those drawings; each IR variant
then regenerates references and target together on the same noise (attnlab.vision.consistency)."""

from __future__ import annotations

import json

from tqdm.auto import tqdm

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.io import read_parquet
from attnlab.ir_diffusion import VARIANTS
from attnlab.seeds import derive_seed
from attnlab.vision.consistency import Item, multi_subject, plain
from attnlab.vision.images import for_seed, write_image_dir
from attnlab.world.scene import Scene


def main(args: StepArgs) -> None:
    p = args.params
    cases = for_seed(read_parquet(args.input("cases")), int(p["seed_index"]))  # this seed's own cases
    components = load_pipeline(args.input("model"), device=p.get("device", "auto"))
    sampling = {"steps": p["steps"], "guidance": p["guidance"]}
    items = [Item([*c.ref_captions, c.target_caption],
                  [*(Scene.from_dict(json.loads(s)) for s in c.ref_scenes), Scene.from_dict(json.loads(c.target_scene))],
                  # one initial noise per case, shared by its references and its target (the authors' set-up)
                  derive_seed(int(p["seed"]), "case", int(c.case))) for c in cases.itertuples(index=False)]
    drawn = plain(components, items, sampling)
    variants = {v: VARIANTS[v] for v in p["variants"]}
    records = []
    for c, item, plain_images in tqdm(list(zip(cases.itertuples(index=False), items, drawn)),
                                      desc="ir_diffusion cases", mininterval=5):
        images, found = multi_subject(components, item, plain_images, variants, p, sampling)
        meta = {"seed_index": int(p["seed_index"]), "case": int(c.case), "n_subjects": len(item.prompts) - 1,
                "target_masks_found": int(sum(found))}
        for variant, (refs, target) in images.items():
            records += [{"image": img, "variant": variant, "role": "reference", "subject": i, **meta}
                        for i, img in enumerate(refs)]
            records.append({"image": target, "variant": variant, "role": "target", "subject": -1, **meta})
    write_image_dir(args.output("images"), records)
    print(f"{len(records)} images")


if __name__ == "__main__":
    run_step(main, description=__doc__)
