"""Generate each four-stage sequence from one initial noise (a fixed seed, as a user would):
plainly, and with cross-frame consistency attention (frames 2-4 share attention with frame 1
inside the subjects' region)."""

from __future__ import annotations

from tqdm.auto import tqdm

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.io import read_json
from attnlab.seeds import derive_seed
from attnlab.vision.consistency import Item, plain, sequence
from attnlab.vision.images import write_image_dir
from attnlab.world.scene import Scene


def main(args: StepArgs) -> None:
    p = args.params
    # this seed's own prompts (a real file has no seed_index: every seed draws all of it)
    records_in = [r for r in read_json(args.input("prompts")) if int(r.get("seed_index", p["seed_index"])) ==
                  int(p["seed_index"])]
    truth = read_json(args.input("truth"))
    components = load_pipeline(args.input("model"), device=p.get("device", "auto"))
    sampling = {"steps": p["steps"], "guidance": p["guidance"]}
    items = []
    for rec in records_in:
        index = int(rec["index"])
        t = truth.get(str(index))
        items.append(Item([s["prompt"] for s in sorted(rec["prompts"], key=lambda s: int(s["step"]))],
                          [Scene.from_dict(f) for f in t["frames"]] if t else [None] * len(rec["prompts"]),
                          derive_seed(int(p["seed"]), "sequence", index)))
    drawn = plain(components, items, sampling)
    out = []
    for rec, item, plain_frames in tqdm(list(zip(records_in, items, drawn)), desc="envision sequences",
                                        mininterval=5):
        consistent = sequence(components, item, plain_frames, p, sampling)
        meta = {"seed_index": int(p["seed_index"]), "index": int(rec["index"]), "category": rec["category"]}
        for variant, frames in (("vanilla", plain_frames), ("consistent", consistent)):
            for k, img in enumerate(frames, start=1):
                out.append({"image": img, "variant": variant, "frame": k, "prompt": item.prompts[k - 1], **meta})
    write_image_dir(args.output("images"), out)
    print(f"{len(out)} frames")


if __name__ == "__main__":
    run_step(main, description=__doc__)
