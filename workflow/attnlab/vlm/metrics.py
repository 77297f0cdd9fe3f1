"""Hallucination and VQA metrics of the VLM world, exact against the scene graph (vlm_design §5).

**CHAIR** (Rohrbach et al. 2018). A caption's object mentions are read by the caption grammar: a
colour word followed by a shape word within 2 tokens. CHAIR_I = hallucinated mentions / all
mentions; CHAIR_S = captions with >= 1 hallucinated mention / all captions; recall = true subjects
whose type is mentioned / true subjects. Attribute CHAIR: each mention of a present object makes a
size claim (small / big / no size word), a ring claim ("with a ring" or not) and, where a position
phrase follows, a position claim; a trailing background phrase is a background claim; attribute
CHAIR = wrong claims / claims (also per attribute). A caption that does not match the world's
caption grammar exactly is **unparseable**: counted (n_unparseable) and still scored with the
mentions the loose rule finds, never dropped (a caption with no mention counts as a caption
without hallucination, so read CHAIR with recall and the unparseable count).

**POPE.** Accuracy, precision, recall, F1 (positive class "yes") and yes-ratio per split
(random / popular / adversarial), over all, and on prior-violating vs prior-consistent scenes.
A prediction is read as its first word: "yes", "no", or anything else ("other": wrong, and not a
yes).

**VQA.** Exact match after lower-casing and collapsing whitespace, per task and per attribute kind.

Per-case arrays (`chair_cases`, `pope_correct`, `exact_match`) are the bootstrap unit
(metrics.bootstrap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attnlab.world.caption import BACKGROUND_PHRASES, position_phrase, size_word
from attnlab.world.scene import COLORS, SHAPES, Scene

ATTRIBUTES = ("size", "ring", "position", "background")
_SIZE_WORDS = ("small", "big")
_POSITIONS = sorted({position_phrase(x, y) for x in (0.2, 0.5, 0.8) for y in (0.2, 0.5, 0.8)}, key=len, reverse=True)
_BACKGROUND_OF = {v: k for k, v in BACKGROUND_PHRASES.items()}
_C = "|".join(COLORS)
_S = "|".join(SHAPES)
_POS = "|".join(re.escape(p) for p in _POSITIONS)
_BG = "|".join(re.escape(p) for p in BACKGROUND_PHRASES.values())
_SUBJ = rf"a (?:(?:small|big) )?(?:{_C}) (?:{_S})(?: with a ring)? (?:{_POS})"
GRAMMAR = re.compile(rf"^(?:nothing|{_SUBJ}(?: and {_SUBJ})*) (?:{_BG})$")


@dataclass
class Mention:
    color: str
    shape: str
    index: int  # word index of the colour word (the shape word is at index + 1 or + 2)
    shape_index: int
    size: str  # the size claim: "small", "big" or "" (no size word)
    ring: bool
    position: str | None  # the position phrase that follows, if any

    @property
    def type(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass
class ParsedCaption:
    words: list[str]
    mentions: list[Mention] = field(default_factory=list)
    background: str | None = None
    grammatical: bool = False


def normalize(text: str) -> str:
    return " ".join(str(text).lower().split())


def parse_caption(text: str) -> ParsedCaption:
    """Mentions (colour word, then a shape word within 2 tokens), their size / ring / position
    claims, the trailing background claim, and whether the caption matches GRAMMAR exactly."""
    norm = normalize(text)
    words = norm.split()
    out = ParsedCaption(words, grammatical=bool(GRAMMAR.match(norm)))
    for i, w in enumerate(words):
        if w not in COLORS:
            continue
        j = next((k for k in (i + 1, i + 2) if k < len(words) and words[k] in SHAPES), None)
        if j is None:
            continue
        size = words[i - 1] if i > 0 and words[i - 1] in _SIZE_WORDS else ""
        k = j + 1
        ring = words[k:k + 3] == ["with", "a", "ring"]
        k += 3 if ring else 0
        rest = " ".join(words[k:k + 4])
        position = next((p for p in _POSITIONS if rest == p or rest.startswith(p + " ")), None)
        out.mentions.append(Mention(w, words[j], i, j, size, ring, position))
    for phrase, bg in _BACKGROUND_OF.items():
        if norm == phrase or norm.endswith(" " + phrase):
            out.background = bg
    return out


def caption_case(text: str, scene: Scene, companion: dict | None = None) -> dict:
    """One caption scored against its scene: mentions, hallucinated, subjects, recalled,
    attribute claims / wrong (total and per attribute), unparseable, and (given the companion
    map) prior_hallucinated = hallucinated mentions that are the companion of a present type."""
    p = parse_caption(text)
    types = [f"{s.color} {s.shape}" for s in scene.subjects]
    mentioned = {m.type for m in p.mentions}
    hallucinated = [m for m in p.mentions if m.type not in types]
    claims = {a: 0 for a in ATTRIBUTES}
    wrong = {a: 0 for a in ATTRIBUTES}
    for m in p.mentions:
        if m.type not in types:
            continue
        s = scene.subjects[types.index(m.type)]
        checks = [("size", m.size == size_word(s.size)), ("ring", m.ring == s.ring)]
        if m.position is not None:
            checks.append(("position", m.position == position_phrase(s.x, s.y)))
        for a, ok in checks:
            claims[a] += 1
            wrong[a] += not ok
    if p.background is not None:
        claims["background"] += 1
        wrong["background"] += p.background != scene.background
    present_comps = {companion[t] for t in types if t in companion} if companion else set()
    case = {
        "mentions": len(p.mentions), "hallucinated": len(hallucinated),
        "subjects": len(types), "recalled": sum(t in mentioned for t in types),
        "attribute_claims": sum(claims.values()), "attribute_wrong": sum(wrong.values()),
        "unparseable": not p.grammatical,
        "prior_hallucinated": sum(m.type in present_comps for m in hallucinated),
        "hallucinated_types": " | ".join(m.type for m in hallucinated),
    }
    for a in ATTRIBUTES:
        case[f"{a}_claims"], case[f"{a}_wrong"] = claims[a], wrong[a]
    return case


def chair_cases(captions, scenes, companion: dict | None = None) -> pd.DataFrame:
    """One row per caption (caption_case), in input order; never drops a caption."""
    captions, scenes = list(captions), list(scenes)
    if len(captions) != len(scenes):
        raise ValueError(f"{len(captions)} captions for {len(scenes)} scenes")
    return pd.DataFrame([caption_case(c, s, companion) for c, s in zip(captions, scenes)])


def _ratio(a, b) -> float:
    return float(a) / float(b) if b else float("nan")


def chair(captions, scenes, companion: dict | None = None) -> dict:
    """CHAIR_I, CHAIR_S, recall, attribute CHAIR (and per attribute), unparseable count and rate,
    and prior_share = hallucinated mentions that are companions of a present type / hallucinated
    mentions (NaN without the companion map or without hallucinations). Ratios over zero cases
    are NaN."""
    df = chair_cases(captions, scenes, companion)
    if df.empty:
        df = pd.DataFrame(columns=list(caption_case("nothing in fog", Scene([], "fog"))))
    n = len(df)
    out = {
        "n_captions": n,
        "chair_i": _ratio(df.hallucinated.sum(), df.mentions.sum()),
        "chair_s": _ratio((df.hallucinated > 0).sum(), n),
        "recall": _ratio(df.recalled.sum(), df.subjects.sum()),
        "attribute_chair": _ratio(df.attribute_wrong.sum(), df.attribute_claims.sum()),
        "n_mentions": int(df.mentions.sum()), "n_hallucinated": int(df.hallucinated.sum()),
        "n_unparseable": int(df.unparseable.sum()), "unparseable_rate": _ratio(df.unparseable.sum(), n),
        "prior_share": _ratio(df.prior_hallucinated.sum(), df.hallucinated.sum()) if companion else float("nan"),
    }
    for a in ATTRIBUTES:
        out[f"attribute_chair_{a}"] = _ratio(df[f"{a}_wrong"].sum(), df[f"{a}_claims"].sum())
    return out


# ---------------------------------------------------------------- POPE

def yes_no(prediction) -> str:
    """"yes", "no" or "other": the first word of the prediction, lower-cased."""
    words = normalize(prediction).split()
    first = words[0].strip(".,!?") if words else ""
    return first if first in ("yes", "no") else "other"


def pope_correct(predictions, answers) -> np.ndarray:
    """Per question: 1.0 when the read prediction equals the answer (an "other" is wrong)."""
    return np.array([yes_no(p) == a for p, a in zip(predictions, answers)], float)


def pope_scores(predictions, answers) -> dict:
    """accuracy, precision, recall, f1 (positive = yes; 0 when undefined), yes_ratio (share of
    predictions read as yes), n, n_other."""
    pred = [yes_no(p) for p in predictions]
    ans = [str(a) for a in answers]
    n = len(pred)
    tp = sum(p == "yes" and a == "yes" for p, a in zip(pred, ans))
    fp = sum(p == "yes" and a == "no" for p, a in zip(pred, ans))
    fn = sum(p != "yes" and a == "yes" for p, a in zip(pred, ans))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"accuracy": _ratio(sum(p == a for p, a in zip(pred, ans)), n), "precision": precision,
            "recall": recall, "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "yes_ratio": _ratio(pred.count("yes"), n), "n": n, "n_other": pred.count("other")}


def pope(predictions, answers, splits, prior_violating=None) -> dict:
    """pope_scores per POPE split (in POPE_SPLITS order, those present), over "all", and on
    "prior_violating" / "prior_consistent" scenes when the flags are given."""
    from attnlab.vlm.data import POPE_SPLITS

    predictions, answers, splits = list(predictions), list(answers), list(splits)
    if not len(predictions) == len(answers) == len(splits):
        raise ValueError(f"{len(predictions)} predictions, {len(answers)} answers, {len(splits)} splits")
    out = {}
    for s in POPE_SPLITS:
        idx = [i for i, x in enumerate(splits) if x == s]
        if idx:
            out[s] = pope_scores([predictions[i] for i in idx], [answers[i] for i in idx])
    out["all"] = pope_scores(predictions, answers)
    if prior_violating is not None:
        flags = [bool(v) for v in prior_violating]
        for name, want in (("prior_violating", True), ("prior_consistent", False)):
            idx = [i for i, v in enumerate(flags) if v == want]
            out[name] = pope_scores([predictions[i] for i in idx], [answers[i] for i in idx])
    return out


# ---------------------------------------------------------------- VQA

def exact_match(predictions, answers) -> np.ndarray:
    return np.array([normalize(p) == normalize(a) for p, a in zip(predictions, answers)], float)


def vqa(predictions, answers, tasks, questions=None) -> dict:
    """Exact-match accuracy and n per task (and per "attribute/<kind>" when questions are given)."""
    hit = exact_match(predictions, answers)
    tasks = list(tasks)
    keys = [[t] for t in tasks]
    if questions is not None:
        for k, (t, q) in enumerate(zip(tasks, questions)):
            if q:
                keys[k].append(f"{t}/{q}")
    out: dict[str, dict] = {}
    for k, ks in enumerate(keys):
        for key in ks:
            out.setdefault(key, []).append(hit[k])
    return {key: {"accuracy": float(np.mean(v)), "n": len(v)} for key, v in sorted(out.items())}


def score_examples(df: pd.DataFrame, predictions, companion: dict | None = None) -> dict:
    """Every metric of a data frame (attnlab.vlm.data SCHEMA) and its predictions, routed by task:
    captions -> chair, existence -> pope, every task -> vqa (exact match)."""
    from attnlab.vlm.data import scene_of

    predictions = list(predictions)
    if len(predictions) != len(df):
        raise ValueError(f"{len(predictions)} predictions for {len(df)} examples")
    df = df.reset_index(drop=True)
    cap = df.index[df.task == "caption"]
    ex = df.index[df.task == "existence"]
    return {
        "chair": chair([predictions[i] for i in cap], [scene_of(df.loc[i]) for i in cap], companion),
        "pope": pope([predictions[i] for i in ex], df.answer[ex], df.pope_split[ex], df.prior_violating[ex]),
        "vqa": vqa(predictions, df.answer, df.task, df.question),
    }
