"""Envision-Score (arXiv 2512.01816) of generated four-stage sequences, measured by parsing the
frames and comparing them with the ground truth of attnlab.world.envision_prompts.synthesize:
nine 0-5 sub-scores in three dimensions, aggregated with the paper's weights."""

from __future__ import annotations

import numpy as np

from attnlab.world.metrics import caption_accuracy, fusion, matched
from attnlab.world.parser import N_SUBJECT_COLORS, PALETTE, PALETTE_NAMES, TOL, background_of, dilate, parse, segments
from attnlab.world.rules import Rule, get_rule
from attnlab.world.scene import Scene

WEIGHTS = {
    "consistency": {"semantic": 0.33, "factual": 0.33, "spatial_temporal": 0.34},
    "physicality": {"basic_properties": 0.33, "dynamics": 0.33, "physical_reliability": 0.34},
    "aesthetics": {"expressiveness": 0.33, "artistic_quality": 0.33, "authenticity": 0.34},
}
OVERALL_WEIGHTS = {"consistency": 0.4, "physicality": 0.4, "aesthetics": 0.2}
SUBSCORES = [k for group in WEIGHTS.values() for k in group]


def aggregate(sub: dict) -> dict:
    """Envision's aggregation of nine 0-5 sub-scores: the three dimension scores (weighted sums),
    overall = 0.4 consistency + 0.4 physicality + 0.2 aesthetics (0-5), overall_100 = 20 x overall."""
    out = {k: float(sub[k]) for k in SUBSCORES}
    for dim, w in WEIGHTS.items():
        out[dim] = float(sum(w[k] * sub[k] for k in w))
    out["overall"] = float(sum(w * out[d] for d, w in OVERALL_WEIGHTS.items()))
    out["overall_100"] = 20.0 * out["overall"]
    return out


def _tracked(parsed: list[Scene], truth: list[Scene]):
    return [matched(p, t)[0] if t.subjects and p.subjects else None for p, t in zip(parsed, truth)]


def image_quality(image: np.ndarray) -> dict:
    """Aesthetic proxies of one image, each in [0, 1] (no aesthetic judge is available):
    explained (pixels that are background or inside a parsed subject, ring included),
    clean (1 - the share of subject-coloured pixels outside every parsed subject: stray
    fragments, the artifact rate), fidelity (1 - mean distance of pixels to the nearest palette
    colour / parser.TOL, clipped: how pure the colours are)."""
    image = np.asarray(image)
    segs, cls = segments(image)
    bg = PALETTE_NAMES.index("bg:" + background_of(image))
    covered = np.zeros(cls.shape, bool)
    for s in segs:
        covered |= dilate(s["filled"], 2)
    explained = float(((cls == bg) | covered).mean())
    colored = (cls >= 0) & (cls < N_SUBJECT_COLORS)
    stray = colored & ~covered
    clean = 1.0 - (float(stray.sum() / colored.sum()) if colored.any() else 0.0)
    d = np.linalg.norm(image[..., None, :].astype(float) - PALETTE, axis=-1).min(-1)
    fidelity = float(np.clip(1 - d.mean() / TOL, 0, 1))
    return {"explained": explained, "clean": clean, "fidelity": fidelity}


def score(parsed_frames: list[Scene], truth_frames: list[Scene], rule: Rule | str,
          images: list[np.ndarray] | None = None) -> dict:
    """Envision-Score of a parsed four-stage sequence against the rule's ground truth.

    Nine 0-5 sub-scores (5 x a fraction), the three dimensions, overall and overall_100 (aggregate):
      consistency  semantic: per-frame caption accuracy (mean of colour, shape, ring, position,
                   count, background); factual: rule.adherence; spatial_temporal: the tracked
                   subject's hidden core persists from frame 1, and background and count change
                   exactly where the truth's do;
      physicality  basic_properties: matched subjects keep their true shape and size (1 - |log2
                   size ratio|); dynamics: the tracked subject's displacement from frame 1 agrees
                   with the truth's (1 - error / 0.25 of the frame); physical_reliability: frames
                   without fusion (wrong count, attributes mixed between subjects);
      aesthetics   PROXIES from the images (image_quality: explained pixels, 1 - stray-fragment
                   rate, colour fidelity), not a judge's opinion; NaN when `images` is None, and
                   then the aesthetics and overall are NaN too.
    The tracked subject is the true subject 0 of each frame, matched by colour, shape, position.
    """
    rule = get_rule(rule)
    if len(parsed_frames) != len(truth_frames):
        raise ValueError(f"{len(parsed_frames)} parsed frames for {len(truth_frames)} true frames")
    P, T = parsed_frames, truth_frames
    n = len(T)
    sem = []
    for p, t in zip(P, T):
        ca = caption_accuracy(p, t)
        sem.append(np.mean([ca[k] for k in ("colour", "shape", "ring", "position", "count", "background")]))
    track = _tracked(P, T)
    core0 = track[0].core if track[0] is not None else None
    identity = [track[k] is not None and core0 is not None and track[k].core == core0 for k in range(1, n)]
    bg = [(P[k].background == P[k - 1].background) == (T[k].background == T[k - 1].background) for k in range(1, n)]
    cnt = [(len(P[k].subjects) == len(P[k - 1].subjects)) == (len(T[k].subjects) == len(T[k - 1].subjects))
           for k in range(1, n)]
    basic = []
    for p, t in zip(P, T):
        for g, s in zip(matched(p, t), t.subjects):
            basic.append(0.0 if g is None else
                         0.5 * (g.shape == s.shape) + 0.5 * max(0.0, 1 - abs(np.log2(max(g.size, 1e-6) / s.size))))
    dyn = []
    t0 = T[0].subjects[0] if T[0].subjects else None
    for k in range(1, n):
        if track[0] is None or track[k] is None or t0 is None:
            dyn.append(0.0)
            continue
        tk = T[k].subjects[0]
        err = np.hypot((track[k].x - track[0].x) - (tk.x - t0.x), (track[k].y - track[0].y) - (tk.y - t0.y))
        dyn.append(max(0.0, 1 - err / 0.25))
    sub = {
        "semantic": 5 * float(np.mean(sem)),
        "factual": 5 * rule.adherence(P, T),
        "spatial_temporal": 5 * float(np.mean([np.mean(identity), np.mean(bg), np.mean(cnt)])),
        "basic_properties": 5 * float(np.mean(basic)) if basic else 0.0,
        "dynamics": 5 * float(np.mean(dyn)),
        "physical_reliability": 5 * float(np.mean([not fusion(p, t) for p, t in zip(P, T)])),
    }
    if images is None:
        sub.update(expressiveness=np.nan, artistic_quality=np.nan, authenticity=np.nan)
    else:
        q = [image_quality(im) for im in images]
        sub.update(expressiveness=5 * float(np.mean([x["explained"] for x in q])),
                   artistic_quality=5 * float(np.mean([x["clean"] for x in q])),
                   authenticity=5 * float(np.mean([x["fidelity"] for x in q])))
    return aggregate(sub)


def score_images(images: list[np.ndarray], truth_entry: dict) -> dict:
    """Parse four generated frames and score them against a truth entry of envision_prompts.synthesize()."""
    truth = [Scene.from_dict(f) for f in truth_entry["frames"]]
    return score([parse(np.asarray(im)) for im in images], truth, truth_entry["rule"], images)
