"""Calibration of the vision track's text-to-image model (issue 13): does a training budget / world
setting make the model draw what its caption says? Trains one model (the baseline recipe of
config/config.yaml's `vision` block, with the overrides given) on one training seed and scores
fresh captions the way image_world's competence gate does: per-field caption accuracy of the
parsed drawing against its own scene and against a shuffled scene (the next image's).

    python bench/calibrate_vision.py                                   # the committed config
    python bench/calibrate_vision.py --steps 600 --batch 32 --set architecture.attention='[false,true,true]'
    python bench/calibrate_vision.py --n-eval 96 --eval-seeds 2 --out /tmp/cal.json
    python bench/calibrate_vision.py --steps 14400 --every 1800 --n-eval 64   # a learning curve
    python bench/calibrate_vision.py --load-model /tmp/m --sampler 3,12 --sampler 7.5,25   # sampler settings of a saved model

The world's subject sizes are config's `vision.subject_sizes` unless --sizes says otherwise.

One thread. Not part of the tests; record the output in bench/README.md (vision section) before
freezing a setting in config/config.yaml.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from diffusion_throughput import vision_block  # noqa: E402  (bench/, the script's folder)

from attnlab.diffusion.probe import caption_use  # noqa: E402
from attnlab.diffusion.sample import generate  # noqa: E402
from attnlab.diffusion.train import train  # noqa: E402
from attnlab.image_world.evaluate import above_chance, competence_fields  # noqa: E402
from attnlab.seeds import derive_seed  # noqa: E402
from attnlab.vision.plan import train_params  # noqa: E402
from attnlab.world.caption import caption  # noqa: E402
from attnlab.world.dataset import training_set  # noqa: E402
from attnlab.world.metrics import caption_accuracy  # noqa: E402
from attnlab.world.parser import parse  # noqa: E402
from attnlab.world.render import render  # noqa: E402
from attnlab.world.scene import random_scene, subject_sizes  # noqa: E402

FIELDS = ("colour", "shape", "ring", "position", "count", "background", "strict")


def set_key(d: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    for k in path:
        d = d.setdefault(k, {})
    d[last] = value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--train-images", type=int)
    p.add_argument("--set", action="append", default=[], help="vision.model key=YAML value (dotted)")
    p.add_argument("--train-seed", type=int, default=0)
    p.add_argument("--n-eval", type=int, default=96)
    p.add_argument("--eval-seeds", type=int, default=1)
    p.add_argument("--every", type=int, help="also score the EMA model every EVERY training steps (a learning curve)")
    p.add_argument("--sizes", help="YAML [[lo, hi]] x 3: the subject circumradii for 1, 2, 3 subjects "
                   "(attnlab.world.scene.SIZE_RANGES) for training data and evaluation scenes alike")
    p.add_argument("--config", default="", help="a config layered over config/config.yaml (its vision block), "
                   "e.g. config/full.yaml on a GPU")
    p.add_argument("--out")
    p.add_argument("--save-model", help="write the trained model (Stable Diffusion layout) into this folder")
    p.add_argument("--grid", help="write a PNG grid of the first 32 drawings (above) and their true renders (below)")
    p.add_argument("--load-model", help="score this saved model (--save-model's folder) instead of training one")
    p.add_argument("--sampler", action="append", default=[], metavar="GUIDANCE,STEPS",
                   help="score with these sampling settings (repeatable) instead of config's vision.sampling")
    a = p.parse_args()
    torch.set_num_threads(1)
    vision = vision_block(a.config)
    m = vision["model"]
    m["steps"] = a.steps or m["steps"]
    m["batch_size"] = a.batch or m["batch_size"]
    m["lr"] = a.lr or m["lr"]
    m["train_images"] = a.train_images or m["train_images"]
    for kv in a.set:
        k, v = kv.split("=", 1)
        set_key(m, k, yaml.safe_load(v))
    size = vision["image_size"]
    with subject_sizes(yaml.safe_load(a.sizes) if a.sizes else vision.get("subject_sizes")):
        if a.load_model:
            sweep(a, vision, size)
        else:
            run(a, vision, m, size)


def samplers(a, vision: dict) -> list[dict]:
    """--sampler GUIDANCE,STEPS settings, or config's vision.sampling alone."""
    if not a.sampler:
        return [dict(vision["sampling"])]
    out = []
    for s in a.sampler:
        g, n = s.split(",")
        out.append({"guidance": float(g), "steps": int(n)})
    return out


def sweep(a, vision: dict, size: int) -> None:
    """Score a saved model under each sampling setting (the same captions and noise for each)."""
    from attnlab.diffusion.model import load_pipeline

    comps = load_pipeline(a.load_model)
    recs = []
    for smp in samplers(a, vision):
        t0 = time.perf_counter()
        r = score(comps, a, vision, size, sampling=smp)
        o, sh = r["own"], r["shuffled"]
        recs.append({**smp, **r, "wall_s": time.perf_counter() - t0})
        print(f"guidance {smp['guidance']:g}, {smp['steps']} steps: gate {r['gate_value']:+.3f} "
              f"(colour {above_chance(o['colour'], sh['colour']):+.3f}, shape {above_chance(o['shape'], sh['shape']):+.3f}, "
              f"strict {o['strict']:.2f} vs {sh['strict']:.2f}; {recs[-1]['wall_s']:.0f} s)", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"model": a.load_model, "train_seed": a.train_seed,
                                           "n_eval": a.n_eval * a.eval_seeds, "settings": recs}, indent=1) + "\n")


def score(comps: dict, a, vision: dict, size: int, grid: str | None = None, sampling: dict | None = None) -> dict:
    """Draw a.n_eval fresh captions per evaluation seed (the same ones at every call) and score the
    parsed drawings against their own scene and a shuffled one: {"own", "shuffled", "gate_value"}.
    `sampling` ({"guidance", "steps"}) replaces config's vision.sampling."""
    sampling = sampling or vision["sampling"]
    rows = []
    for es in range(a.eval_seeds):
        rng = np.random.default_rng(derive_seed(a.train_seed, "calibrate", "eval", es))
        scenes = [random_scene(rng, int(rng.integers(1, 4))) for _ in range(a.n_eval)]
        prompts = [caption(s) for s in scenes]
        seeds = [derive_seed(a.train_seed, "calibrate", "noise", es, i) for i in range(a.n_eval)]
        imgs = []
        for b in range(0, a.n_eval, 32):
            imgs += list(generate(comps, prompts[b:b + 32], seeds[b:b + 32], steps=int(sampling["steps"]),
                                  guidance=float(sampling["guidance"])))
        parsed = [parse(im) for im in imgs]
        if grid and es == 0:
            from PIL import Image

            k = min(32, a.n_eval)
            top = np.concatenate([np.concatenate(imgs[r:r + 8], 1) for r in range(0, k, 8)], 0)
            truth = [render(s, size).image for s in scenes[:k]]
            bot = np.concatenate([np.concatenate(truth[r:r + 8], 1) for r in range(0, k, 8)], 0)
            Image.fromarray(np.concatenate([top, bot], 0)).resize((8 * size * 4, top.shape[0] * 8), Image.NEAREST).save(grid)
        for i in range(a.n_eval):
            own = caption_accuracy(parsed[i], scenes[i])
            sh = caption_accuracy(parsed[i], scenes[(i + 1) % a.n_eval])
            rows.append({**{f: own[f] for f in FIELDS}, **{f"shuffled_{f}": sh[f] for f in FIELDS}})
    own = {f: float(np.mean([r[f] for r in rows])) for f in FIELDS}
    sh = {f: float(np.mean([r[f"shuffled_{f}"] for r in rows])) for f in FIELDS}
    return {"own": own, "shuffled": sh, "gate_value": competence_fields(own, sh)}


def run(a, vision: dict, m: dict, size: int) -> None:
    curve = []

    def checkpoint(step: int, comps: dict) -> None:
        e0 = time.perf_counter()
        r = score(comps, a, vision, size)
        o, sh = r["own"], r["shuffled"]
        curve.append({"step": step, **r, "eval_wall_s": time.perf_counter() - e0})
        print(f"step {step}: gate {r['gate_value']:+.3f} (colour {above_chance(o['colour'], sh['colour']):+.3f}, "
              f"shape {above_chance(o['shape'], sh['shape']):+.3f}, position {o['position']:.2f} vs {sh['position']:.2f}, "
              f"count {o['count']:.2f} vs {sh['count']:.2f})", flush=True)

    t0 = time.perf_counter()
    df = training_set(int(m["train_images"]), derive_seed(a.train_seed, "vision", "train_data"), size)
    params = train_params(vision, a.train_seed)  # what the workflow's training step gets (device, speed options)
    out = train(df, params.pop("model"), out_dir=None, progress=False, evaluate=checkpoint if a.every else None,
                evaluate_every=a.every or 0, **params)
    train_wall = time.perf_counter() - t0 - sum(c["eval_wall_s"] for c in curve)
    comps = out.pop("components")
    if a.save_model:
        from attnlab.diffusion.model import save_pipeline

        save_pipeline(comps, a.save_model)
    r = score(comps, a, vision, size, grid=a.grid)
    own, sh, gate = r["own"], r["shuffled"], r["gate_value"]
    rng = np.random.default_rng(derive_seed(a.train_seed, "calibrate", "probe"))
    probe_scenes = [random_scene(rng, 1) for _ in range(a.n_eval)]
    use = caption_use(comps, probe_scenes, np.stack([render(s, size).image for s in probe_scenes]),
                      seed=derive_seed(a.train_seed, "calibrate", "probe_noise"))
    rec = {"overrides": {"steps": m["steps"], "batch_size": m["batch_size"], "lr": m["lr"],
                         "train_images": m["train_images"], "set": a.set, "sizes": a.sizes},
           "train_seed": a.train_seed, "n_eval": a.n_eval * a.eval_seeds, "train_wall_s": train_wall,
           "seconds_per_step": out["seconds_per_step"], "final_loss": out["final_loss"],
           "own": own, "shuffled": sh, "gate_value": gate, "caption_use": use, "curve": curve}
    print(json.dumps({k: v for k, v in rec.items() if k != "curve"}, indent=1))
    print("field       own   shuffled")
    for f in FIELDS:
        print(f"{f:10s} {own[f]:.3f}  {sh[f]:.3f}")
    print(f"caption use (attnlab.diffusion.probe; {a.n_eval} one-subject scenes): denoising loss with the own caption, "
          "and its rise when one word is swapped / the caption is empty")
    for t in use["own"]:
        print(f"  t={t}: own {use['own'][t]:.4f}  " + "  ".join(f"{k} {use[k][t] - use['own'][t]:+.4f}" for k in use if k != "own"))
    print(f"gate value (min over colour, shape of (own - shuffled) / (1 - shuffled)): {gate:.3f}; train {train_wall:.0f} s "
          f"({out['seconds_per_step']:.3f} s/step on {out['device']}, one CPU thread; the cosine schedule spans all {m['steps']} steps, so a "
          f"curve point is not the end of a shorter run)")
    if a.out:
        Path(a.out).write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
