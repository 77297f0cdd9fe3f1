"""MuCR-schema siamese cause/effect pairs from the world's rule families, and reasoners.

Schema (MuCR test release, arXiv 2408.08105): id, style, cause, effect, cue, false_cue (3 str),
label, causal_reason, image_0 (cause), image_1 (effect); images as HF `Image` features
({"bytes": PNG bytes, "path": str}). Our synthetic rows add scene_0, scene_1 (JSON scene graphs)
and rule. Ours: style "render"; label = the cue type (action / appearance / clothing /
environment; MuCR's own label column is read but never interpreted); cause / effect = captions of
the two frames; cue = the rule's cue phrase, false_cue = the cues of the other three cue types.

Reasoners: the rule engine (parser + rules: an upper bound in CI) and random choice (chance 25%);
evaluate_levels scores the image level (the true effect among itself + 3 effects of other pairs)
and the phrase level (the true cue among cue + false_cue).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from attnlab import AttnlabError
from attnlab.io import read_parquet
from attnlab.world.caption import caption
from attnlab.world.metrics import matched
from attnlab.world.parser import parse
from attnlab.world.render import from_png, render, to_png
from attnlab.world.rules import CUE_TYPES, MUCR_RULES, RULES, Rule, get_rule
from attnlab.world.scene import Scene

SCHEMA = ["id", "style", "cause", "effect", "cue", "false_cue", "label", "causal_reason", "image_0", "image_1"]
EXTRA = ["scene_0", "scene_1", "rule"]


def synthesize(n: int, seed: int, size: int = 32) -> pd.DataFrame:
    """n pairs cycling over the four cue types (one rule family each, MUCR_RULES); images are
    ground-truth renders of frame 0 (cause) and the last frame (effect) of the rule trajectory."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        cue_type = CUE_TYPES[i % len(CUE_TYPES)]
        rule = RULES[MUCR_RULES[cue_type]]
        frames = rule.frames(rule.initial_scene(rng), 4)
        cause, effect = frames[0], frames[-1]
        rid = f"world-{i:05d}"
        rows.append({
            "id": rid, "style": "render", "cause": caption(cause), "effect": caption(effect), "cue": rule.cue,
            "false_cue": [RULES[MUCR_RULES[c]].cue for c in CUE_TYPES if c != cue_type],
            "label": cue_type, "causal_reason": f"{rule.describe(cause)} then {caption(effect)}",
            "image_0": {"bytes": to_png(render(cause, size).image), "path": f"{rid}_0.png"},
            "image_1": {"bytes": to_png(render(effect, size).image), "path": f"{rid}_1.png"},
            "scene_0": json.dumps(cause.to_dict()), "scene_1": json.dumps(effect.to_dict()), "rule": rule.name,
        })
    return pd.DataFrame(rows, columns=SCHEMA + EXTRA)


def as_image(x, base: Path | None = None) -> np.ndarray:
    """(H, W, 3) uint8 array from an array, PNG bytes, a PIL image or an HF Image dict
    ({"bytes": ..., "path": ...}; the path, relative to `base`, is used when bytes are missing)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (bytes, bytearray)):
        return from_png(bytes(x))
    if isinstance(x, dict):
        if x.get("bytes"):
            return from_png(x["bytes"])
        if x.get("path"):
            p = Path(x["path"])
            p = p if p.is_absolute() or base is None else base / p
            return from_png(p.read_bytes())
        raise ValueError("image dict has neither bytes nor path")
    if hasattr(x, "convert"):
        return np.asarray(x.convert("RGB"), np.uint8)
    raise TypeError(f"cannot read an image from {type(x).__name__}")


def read_mucr(path) -> pd.DataFrame:
    """A MuCR parquet (real or ours) with its schema checked; image_0 / image_1 decoded in place
    to (H, W, 3) uint8 arrays and false_cue to a list of str."""
    path = Path(path)
    df = read_parquet(path)
    missing = [c for c in SCHEMA if c not in df.columns]
    if missing:
        raise AttnlabError(f"{path}: not a MuCR table, missing columns {missing} (expected {SCHEMA})")
    df = df.copy()
    df["false_cue"] = [list(map(str, f)) for f in df.false_cue]
    bad = [r for r, f in zip(df.id, df.false_cue) if len(f) != 3]
    if bad:
        raise AttnlabError(f"{path}: false_cue must hold 3 phrases; rows {bad[:5]} do not")
    for col in ("image_0", "image_1"):
        images = []
        for rid, x in zip(df.id, df[col]):
            try:
                images.append(as_image(x, path.parent))
            except (OSError, ValueError, TypeError) as e:
                raise AttnlabError(f"{path}: row {rid}: cannot decode {col}: {e}") from None
        df[col] = images
    return df


# ---------------------------------------------------------------- reasoning over parsed scenes

def similarity(pred: Scene, got: Scene) -> float:
    """Agreement of a parsed scene with a predicted one, in [0, 1]: the mean of count, background
    and, averaged over predicted subjects (matched; a missing one scores 0), colour, shape, core,
    ring, position (1 - distance / 0.25, floored at 0) and size (1 - |log2 size ratio|, floored)."""
    feats = [float(len(pred.subjects) == len(got.subjects)), float(pred.background == got.background)]
    m = matched(got, pred)
    per = np.zeros((max(len(pred.subjects), 1), 6))
    for k, (g, t) in enumerate(zip(m, pred.subjects)):
        if g is None:
            continue
        per[k] = [g.color == t.color, g.shape == t.shape, g.core == t.core, g.ring == t.ring,
                  max(0.0, 1 - np.hypot(g.x - t.x, g.y - t.y) / 0.25),
                  max(0.0, 1 - abs(np.log2(max(g.size, 1e-6) / max(t.size, 1e-6))))]
    return float(np.mean(feats + list(per.mean(0))))


def explains(rule: Rule, cause: Scene, effect: Scene) -> float:
    """How well `rule` applied to the parsed cause predicts the parsed effect (similarity of the
    rule's last frame with the effect)."""
    return similarity(rule.frames(cause, 4)[-1], effect)


def rule_engine_image_choice(cause_img, candidate_effect_imgs) -> int:
    """Index of the candidate that some rule family explains best as the effect of the cause."""
    cause = parse(as_image(cause_img))
    scores = []
    for img in candidate_effect_imgs:
        eff = parse(as_image(img))
        scores.append(max(explains(r, cause, eff) for r in RULES.values()))
    return int(np.argmax(scores))


def rule_engine_phrase_choice(cause_img, effect_img, cues: list[str]) -> int:
    """Index of the cue whose rule family best explains cause -> effect. Cues that name no rule of
    ours (a real MuCR table) score below every known one; with no known cue, 0."""
    by_cue = {r.cue: r for r in RULES.values()}
    cause, eff = parse(as_image(cause_img)), parse(as_image(effect_img))
    scores = [explains(by_cue[c], cause, eff) if c in by_cue else -1.0 for c in cues]
    return int(np.argmax(scores))


def random_choice(rng: np.random.Generator, k: int) -> int:
    return int(rng.integers(k))


@dataclass
class Reasoner:
    image_choice: Callable  # (cause_img, candidate_effect_imgs) -> int
    phrase_choice: Callable  # (cause_img, effect_img, cues) -> int


def make_reasoner(name: str, rng: np.random.Generator) -> Reasoner:
    """"rule_engine" (parser + rule families) or "random" (uniform choice)."""
    if name == "rule_engine":
        return Reasoner(rule_engine_image_choice, rule_engine_phrase_choice)
    if name == "random":
        return Reasoner(lambda c, cands: random_choice(rng, len(cands)),
                        lambda c, e, cues: random_choice(rng, len(cues)))
    raise ValueError(f"unknown reasoner {name!r}; known: rule_engine, random")


def evaluate_levels(df: pd.DataFrame, reasoner: Reasoner | str, rng: np.random.Generator) -> dict:
    """MuCR's image and phrase levels.

    Image level: per pair, the reasoner picks the true effect image among itself and the effect
    images of 3 other pairs (random, shuffled). Phrase level: it picks the true cue among cue +
    false_cue (shuffled). Returns accuracies (image_level, phrase_level), per-pair correctness
    lists (image_correct, phrase_correct) for confidence intervals, chance (0.25), n, and per-label
    accuracies (by_label).
    """
    if isinstance(reasoner, str):
        reasoner = make_reasoner(reasoner, rng)
    n = len(df)
    if n < 4:
        raise ValueError(f"the image level needs >= 4 pairs, got {n}")
    effects = list(df.image_1)
    img_ok, phr_ok = [], []
    for i, row in enumerate(df.itertuples(index=False)):
        others = rng.choice([j for j in range(n) if j != i], 3, replace=False)
        cands = [i, *others.tolist()]
        order = rng.permutation(4)
        pick = reasoner.image_choice(row.image_0, [effects[cands[o]] for o in order])
        img_ok.append(bool(order[pick] == 0))
        cues = [row.cue, *list(row.false_cue)]
        order = rng.permutation(len(cues))
        pick = reasoner.phrase_choice(row.image_0, row.image_1, [cues[o] for o in order])
        phr_ok.append(bool(order[pick] == 0))
    labels = list(df.label)
    by_label = {}
    for lab in sorted(set(map(str, labels))):
        idx = [k for k, l in enumerate(labels) if str(l) == lab]
        by_label[lab] = {"n": len(idx), "image_level": float(np.mean([img_ok[k] for k in idx])),
                         "phrase_level": float(np.mean([phr_ok[k] for k in idx]))}
    return {"n": n, "chance": 0.25, "image_level": float(np.mean(img_ok)), "phrase_level": float(np.mean(phr_ok)),
            "image_correct": img_ok, "phrase_correct": phr_ok, "by_label": by_label}


def pair_validity(parsed_cause: Scene, parsed_effect: Scene, truth_cause: Scene, truth_effect: Scene,
                  rule: Rule | str) -> dict:
    """Is a generated pair a valid MuCR pair? identity: the subject (truth subject 0) is found in
    both images with the same hidden core (the core the cause image shows: captions never name it,
    so a generated cause picks its own); cue: the effect image agrees more with the true effect
    than with the cause (similarity), i.e. the change is realised; valid: both."""
    get_rule(rule)
    mc, me = matched(parsed_cause, truth_cause), matched(parsed_effect, truth_effect)
    identity = bool(mc and me and mc[0] is not None and me[0] is not None and mc[0].core == me[0].core)
    cue = similarity(truth_effect, parsed_effect) > similarity(truth_cause, parsed_effect)
    return {"identity": identity, "cue": bool(cue), "valid": bool(identity and cue)}
