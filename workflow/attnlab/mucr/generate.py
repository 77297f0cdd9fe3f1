"""Generate each MuCR pair from one initial noise: the cause image, then the effect image plainly
and with consistency attention from the cause image (sharing inside the subjects' region), so the
two pairs differ only in the attention."""

from __future__ import annotations

import json

from tqdm.auto import tqdm

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.io import read_parquet
from attnlab.seeds import derive_seed
from attnlab.vision.consistency import Item, plain, sequence
from attnlab.vision.images import for_seed, write_image_dir
from attnlab.world.scene import Scene


def _scene(row, column: str) -> Scene | None:
    value = getattr(row, column, None)
    return Scene.from_dict(json.loads(value)) if isinstance(value, str) and value else None


def main(args: StepArgs) -> None:
    p = args.params
    pairs = for_seed(read_parquet(args.input("pairs")), int(p["seed_index"]))  # this seed's own pairs
    components = load_pipeline(args.input("model"), device=p.get("device", "auto"))
    sampling = {"steps": p["steps"], "guidance": p["guidance"]}
    rows = list(pairs.itertuples(index=False))
    items = [Item([str(row.cause), str(row.effect)], [_scene(row, "scene_0"), _scene(row, "scene_1")],
                  derive_seed(int(p["seed"]), "pair", k)) for k, row in enumerate(rows)]
    drawn = plain(components, items, sampling)
    out = []
    for k, (row, item, plain_pair) in enumerate(tqdm(list(zip(rows, items, drawn)), desc="mucr pairs",
                                                     mininterval=5)):
        consistent_pair = sequence(components, item, plain_pair, p, sampling)
        meta = {"seed_index": int(p["seed_index"]), "pair": k, "id": str(row.id)}
        for variant, (cause, effect) in (("vanilla", plain_pair), ("consistent", consistent_pair)):
            out.append({"image": cause, "variant": variant, "role": "cause", **meta})
            out.append({"image": effect, "variant": variant, "role": "effect", **meta})
    write_image_dir(args.output("images"), out)
    print(f"{len(out)} images")


if __name__ == "__main__":
    run_step(main, description=__doc__)
