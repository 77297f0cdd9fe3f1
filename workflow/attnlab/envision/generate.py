"""Generate each four-stage sequence plainly (every frame on its own noise) and with cross-frame
consistency attention (frames 2-4 redrawn on the same noise, sharing with frame 1 inside the
subjects' regions)."""

from __future__ import annotations

from tqdm.auto import tqdm

from attnlab.cli import StepArgs, run_step
from attnlab.diffusion.model import load_pipeline
from attnlab.image_world.consistency import from_reference
from attnlab.image_world.images import write_image_dir
from attnlab.io import read_json
from attnlab.seeds import derive_seed
from attnlab.world.scene import Scene


def main(args: StepArgs) -> None:
    p = args.params
    records_in = read_json(args.input("prompts"))
    truth = read_json(args.input("truth"))
    components = load_pipeline(args.input("model"))
    sampling = {"steps": p["steps"], "guidance": p["guidance"]}
    out = []
    for rec in tqdm(records_in, desc="envision sequences", mininterval=5):
        index = int(rec["index"])
        prompts = [s["prompt"] for s in sorted(rec["prompts"], key=lambda s: int(s["step"]))]
        t = truth.get(str(index))
        scenes = [Scene.from_dict(f) for f in t["frames"]] if t else [None] * len(prompts)
        seeds = [derive_seed(int(p["seed"]), "sequence", index, k) for k in range(len(prompts))]
        first, plain_rest, consistent_rest = from_reference(
            components, prompts[0], seeds[0], scenes[0], prompts[1:], seeds[1:], scenes[1:], p, sampling,
            seed=derive_seed(int(p["seed"]), "dropout", index))
        meta = {"seed_index": int(p["seed_index"]), "index": index, "category": rec["category"]}
        for variant, rest in (("vanilla", plain_rest), ("consistent", consistent_rest)):
            for k, img in enumerate([first, *rest], start=1):
                out.append({"image": img, "variant": variant, "frame": k, "prompt": prompts[k - 1], **meta})
    write_image_dir(args.output("images"), out)
    print(f"{len(out)} frames")


if __name__ == "__main__":
    run_step(main, description=__doc__)
