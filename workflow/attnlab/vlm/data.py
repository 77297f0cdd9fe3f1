"""The VLM world: image-text examples from the image world, with a deliberate co-occurrence prior
(vlm_design.md §3).

**Co-occurrence prior.** `make_prior(seed, strength)` draws a fixed, seeded, many-to-one map
`companion` over the 18 (colour, shape) TYPES: 6 hubs, each the companion of 2 non-hubs; hubs have
no companion; a companion differs from its type in both colour and shape. `prior_scene` builds a
scene's types left to right: a drawn non-hub o whose companion c(o) is absent is followed, with
probability `strength`, by c(o) (so captions, which list subjects in scene order, read "o ... c(o)");
otherwise c(o) is barred from the rest of the scene. A non-hub o is only admitted where c(o) would
fit (a free slot within max_subjects, a free colour, not barred by the other non-hub of the same
hub), whatever the coin then says, so the coin
is unbiased: among present non-hubs whose companion does not come before them, c(o) follows with
frequency `strength` exactly (in expectation); counting every present non-hub, P(c(o) | o) is
`strength` plus the chance that c(o) was drawn earlier on its own (0.6 -> about 0.65 at
max_subjects 3). Positions, sizes, rings, cores and the background come from
`world.scene.random_scene` (the distinct-colour rule holds).
Hubs are the most frequent types (they are also placed where a non-hub's companion would not fit),
so POPE-popular negatives are hubs, and POPE-adversarial negatives are companions of present types.

**Tasks** (text in the closed vocabulary VOCAB; every answer computed from the scene graph):
caption (`<image> describe` -> world.caption.caption), existence (POPE, `<image> is there a red
circle ?` -> yes / no; negatives random / popular / adversarial), attribute (question kinds color,
shape, count, position, background), hidden_identity (`what is inside the red circle ?` -> white /
black / nothing; the core is never captioned) and causal_order (the final frame of a world.rules
trajectory; answer "A so B" or "B because A", with the order-swapped foil and a one-word control
foil in `foil`).

**Stage mixes.** T: the text of the S mix without images (prompt without `<image>`, image null);
A: captions; S: 40% captions, 35% existence, 25% other VQA (attribute kinds and hidden_identity in
equal shares). `causal_fraction` of the training caption slots carry a causal_order caption
instead. Training existence questions use random negatives only (pope_split "random"): popular /
adversarial negatives are evaluation splits, so training teaches no "a hub asked about is absent"
text cue against the prior. Dev and test hold, per unit n: n captions, n existence questions per
POPE split (exactly half yes), n attribute questions (kinds in turn), n hidden_identity questions
and n causal_order pairs (families and connectives in turn).

**Disjoint images.** Test is drawn first; dev skips every image test has; train skips every image
dev or test has (compared by PNG bytes: one-subject renders at 32 x 32 do repeat by chance), so
the test set depends on (seed, n_test) only.

**Schema** (one row per example; SCHEMA): id, split, stage (T/A/S for train, "" for dev/test),
task, question (the attribute kind, else ""), prompt, answer, foil (JSON, causal_order only, else
""), image (PNG bytes; null for stage T), scene (JSON scene graph), subject (the queried subject's
index in scene order; -1 when none, e.g. a POPE negative or a caption), object_patches (JSON:
subject index -> raster patch indices where >= 25% of the patch's pixels lie in the subject's
exact render mask, ring included), background_patches (JSON: patches with no pixel of any
subject), pope_split (random / popular / adversarial for existence rows, else ""),
prior_violating (the scene has a non-hub o present whose companion c(o) is absent).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from attnlab import AttnlabError
from attnlab.seeds import derive_seed
from attnlab.world.caption import VOCAB as WORLD_VOCAB
from attnlab.world.caption import caption, position_phrase, size_word
from attnlab.world.render import render, to_png
from attnlab.world.rules import RULES
from attnlab.world.scene import BACKGROUNDS, COLORS, SHAPES, Scene, random_scene

TYPES: tuple[str, ...] = tuple(f"{c} {s}" for c in COLORS for s in SHAPES)  # fixed order
N_HUBS = 6
POPE_SPLITS = ("random", "popular", "adversarial")
ATTRIBUTE_KINDS = ("color", "shape", "count", "position", "background")
TASKS = ("caption", "existence", "attribute", "hidden_identity", "causal_order")
STAGES = ("T", "A", "S")
SPLITS = ("train", "dev", "test")
# The S mix (vlm_design §3); "vqa" = attribute kinds + hidden_identity in equal shares. T uses S's.
STAGE_MIXES: dict[str, dict[str, float]] = {
    "T": {"caption": 0.40, "existence": 0.35, "vqa": 0.25},
    "A": {"caption": 1.0},
    "S": {"caption": 0.40, "existence": 0.35, "vqa": 0.25},
}
VQA_KINDS = ATTRIBUTE_KINDS + ("hidden_identity",)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
CONNECTIVES = ("so", "because")
# Causal-order families: rule -> (process clause, how the visible end state is stated).
CAUSAL_FAMILIES = ("ripen", "mix", "divide", "erode", "grow", "fall")
PATCH_THRESHOLD = 0.25  # share of a patch's pixels inside a subject's mask for the patch to count
IMAGE_TOKEN = "<image>"
SCHEMA = ["id", "split", "stage", "task", "question", "prompt", "answer", "foil", "image", "scene", "subject",
          "object_patches", "background_patches", "pope_split", "prior_violating"]

QUESTION_WORDS = ("describe is there what color shape object objects how many where inside it day or night "
                  "the ? yes no white black nothing")
CAUSAL_WORDS = "so because it is they are there four circles squares triangles touch"
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles"}
# The one recognisable word a causal control foil changes (vlm_vqa_causal's O&A control).
CONTROL_SWAPS = {"red": "blue", "blue": "green", "green": "red", "yellow": "purple", "purple": "yellow",
                 "orange": "blue", "circles": "squares", "squares": "triangles", "triangles": "circles",
                 "small": "big", "big": "small", "bottom": "top"}


def _vocab() -> list[str]:
    words = set(WORLD_VOCAB) | set(QUESTION_WORDS.split()) | set(CAUSAL_WORDS.split()) | set(NUMBER_WORDS)
    words |= set(COLORS) | set(SHAPES) | set(BACKGROUNDS)
    for rule in CAUSAL_FAMILIES:
        words |= set(RULES[rule].cue.split())
    return sorted(words)


VOCAB: list[str] = _vocab()  # every word of every prompt, answer and foil (plus the special IMAGE_TOKEN)


def type_of(subject) -> str:
    return f"{subject.color} {subject.shape}"


def _color(t: str) -> str:
    return t.split()[0]


def _shape(t: str) -> str:
    return t.split()[1]


# ---------------------------------------------------------------- the co-occurrence prior

@dataclass(frozen=True)
class Prior:
    companion: dict  # non-hub type -> its hub companion
    strength: float

    @cached_property
    def hubs(self) -> tuple[str, ...]:
        """The 6 hub types (companions of two non-hubs each), in TYPES order."""
        values = list(self.companion.values())
        return tuple(t for t in TYPES if t in values)

    def to_dict(self) -> dict:
        return {"companion": {t: self.companion[t] for t in TYPES if t in self.companion},
                "hubs": list(self.hubs), "strength": self.strength}

    @classmethod
    def from_dict(cls, d: dict) -> "Prior":
        return cls({str(k): str(v) for k, v in d["companion"].items()}, float(d["strength"]))


def make_prior(seed: int, strength: float) -> Prior:
    """The seeded companion map: 6 hubs (each the companion of 2 non-hubs, differing from each in
    colour and shape); redrawn hubs until such an assignment exists (backtracking, rng order)."""
    if not 0.0 <= strength <= 1.0:
        raise AttnlabError(f"vlm prior_strength must be in [0, 1], got {strength}")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        perm = rng.permutation(len(TYPES))
        hubs = [TYPES[i] for i in perm[:N_HUBS]]
        non = [TYPES[i] for i in perm[N_HUBS:]]
        orders = {t: [hubs[i] for i in rng.permutation(N_HUBS)] for t in non}
        found = _assign(non, orders, {h: 2 for h in hubs}, {})
        if found is not None:
            return Prior(found, float(strength))
    raise AttnlabError("could not draw a companion map")  # pragma: no cover (never seen)


def _assign(non, orders, cap, out):
    if len(out) == len(non):
        return dict(out)
    t = non[len(out)]
    for h in orders[t]:
        if cap[h] > 0 and _color(h) != _color(t) and _shape(h) != _shape(t):
            cap[h] -= 1
            out[t] = h
            got = _assign(non, orders, cap, out)
            if got is not None:
                return got
            cap[h] += 1
            del out[t]
    return None


def _admissible(t: str, types: list, used: list, barred: set, prior: Prior, max_subjects: int) -> bool:
    if t in barred or t in types or _color(t) in used:
        return False
    c = prior.companion.get(t)
    if c is None or c in types:
        return True
    # c(o) must be able to follow o: a free slot, a free colour, not barred by o's twin
    return len(types) + 2 <= max_subjects and _color(c) not in used and c not in barred


def prior_types(rng: np.random.Generator, prior: Prior, max_subjects: int) -> list[str]:
    """A scene's types in scene order: a target count uniform in 1..max_subjects, filled left to
    right; a non-hub o (companion absent) is admitted only where its companion would fit, then
    followed by c(o) with probability prior.strength, else c(o) is barred (module docstring)."""
    n = int(rng.integers(1, max_subjects + 1))
    types: list[str] = []
    barred: set[str] = set()
    while len(types) < n:
        used = [_color(t) for t in types]
        avail = [t for t in TYPES if _admissible(t, types, used, barred, prior, max_subjects)]  # never a set
        if not avail:
            break
        o = avail[int(rng.integers(len(avail)))]
        c = prior.companion.get(o)
        if c is None or c in types:
            types.append(o)
        elif rng.random() < prior.strength:
            types += [o, c]
        else:
            types.append(o)
            barred.add(c)
    return types


def prior_scene(rng: np.random.Generator, prior: Prior, max_subjects: int) -> Scene:
    """A random_scene of len(prior_types) subjects (placement, sizes, cores, rings, background)
    whose types are replaced by prior_types, in order."""
    types = prior_types(rng, prior, max_subjects)
    scene = random_scene(rng, len(types))
    for s, t in zip(scene.subjects, types):
        s.color, s.shape = _color(t), _shape(t)
    return scene


def present_types(scene: Scene) -> list[str]:
    return [type_of(s) for s in scene.subjects]


def prior_violating(scene: Scene, prior: Prior) -> bool:
    """A non-hub type o is present and its companion c(o) is absent."""
    present = present_types(scene)
    return any(t in prior.companion and prior.companion[t] not in present for t in present)


def pope_negatives(scene: Scene, prior: Prior, split: str) -> list[str]:
    """Absent types a POPE negative of `split` may ask about (in TYPES order): random = any absent
    type; popular = absent hubs (the most frequent types); adversarial = companions of present
    types that are absent. Empty when the split has none for this scene."""
    present = present_types(scene)
    absent = [t for t in TYPES if t not in present]
    if split == "random":
        return absent
    if split == "popular":
        return [t for t in absent if t in prior.hubs]
    if split == "adversarial":
        comps = {prior.companion[t] for t in present if t in prior.companion}
        return [t for t in absent if t in comps]
    raise AttnlabError(f"unknown POPE split {split!r}; known: {', '.join(POPE_SPLITS)}")


def type_frequencies(scenes: list[Scene]) -> dict[str, float]:
    """Share of scenes containing each type (TYPES order)."""
    n = max(len(scenes), 1)
    return {t: sum(t in present_types(s) for s in scenes) / n for t in TYPES}


# ---------------------------------------------------------------- patches

def patch_indices(masks: np.ndarray, patch: int) -> tuple[dict[str, list[int]], list[int]]:
    """(object_patches, background_patches) of render masks (n, H, W) on a grid of patch x patch
    pixels, raster order (row * (W // patch) + col): a patch belongs to subject i when at least
    PATCH_THRESHOLD of its pixels lie in masks[i]; a background patch holds no subject pixel."""
    n, H, W = masks.shape
    if H % patch or W % patch:
        raise AttnlabError(f"image size {H}x{W} is not a multiple of the patch size {patch}")
    gh, gw = H // patch, W // patch
    share = masks.reshape(n, gh, patch, gw, patch).mean(axis=(2, 4)).reshape(n, gh * gw)
    obj = {str(i): [int(k) for k in np.flatnonzero(share[i] >= PATCH_THRESHOLD - 1e-12)] for i in range(n)}
    bg = [int(k) for k in np.flatnonzero(share.sum(0) == 0)] if n else list(range(gh * gw))
    return obj, bg


# ---------------------------------------------------------------- questions and answers

def number_word(n: int) -> str:
    return NUMBER_WORDS[n]


def attribute_question(scene: Scene, kind: str, rng: np.random.Generator) -> tuple[str, str, int] | None:
    """(question, answer, subject index or -1) of one attribute kind, or None when the kind does
    not apply (color: the shape must be unique; background: day or night scenes only)."""
    subs = scene.subjects
    if kind == "count":
        return "how many objects ?", number_word(len(subs)), -1
    if kind == "background":
        if scene.background not in ("day", "night"):
            return None
        return "is it day or night ?", scene.background, -1
    if not subs:
        return None
    if kind == "color":
        shapes = [s.shape for s in subs]
        unique = [i for i, s in enumerate(subs) if shapes.count(s.shape) == 1]
        if not unique:
            return None
        i = unique[int(rng.integers(len(unique)))]
        return f"what color is the {subs[i].shape} ?", subs[i].color, i
    colors = [s.color for s in subs]
    unique = [i for i, s in enumerate(subs) if colors.count(s.color) == 1]
    if not unique:
        return None
    i = unique[int(rng.integers(len(unique)))]
    if kind == "shape":
        return f"what shape is the {subs[i].color} object ?", subs[i].shape, i
    if kind == "position":
        return f"where is the {type_of(subs[i])} ?", position_phrase(subs[i].x, subs[i].y), i
    raise AttnlabError(f"unknown attribute kind {kind!r}; known: {', '.join(ATTRIBUTE_KINDS)}")


def hidden_identity_question(scene: Scene, rng: np.random.Generator) -> tuple[str, str, int] | None:
    """("what is inside the red circle ?", white / black / nothing, subject index)."""
    subs = scene.subjects
    types = present_types(scene)
    unique = [i for i, t in enumerate(types) if types.count(t) == 1]
    if not unique:
        return None
    i = unique[int(rng.integers(len(unique)))]
    core = subs[i].core
    return f"what is inside the {types[i]} ?", ("nothing" if core == "none" else core), i


def existence_question(t: str) -> str:
    return f"is there a {t} ?"


def causal_clauses(rule: str, final: Scene) -> tuple[str, str, str]:
    """(process clause A, end-state clause B, B with one recognisable word changed) for the final
    frame of a `rule` trajectory; B is read off the scene graph."""
    s = final.subjects[0]
    if rule == "ripen":
        a, b, key = "it ripens", f"it is {s.color}", s.color
    elif rule == "mix":
        a, b, key = "they touch", f"they are {s.color}", s.color
    elif rule == "divide":
        a, b, key = "it divides", f"there are {number_word(len(final.subjects))} {PLURAL[s.shape]}", PLURAL[s.shape]
    elif rule in ("erode", "grow"):
        word = size_word(s.size)
        if not word:
            raise AttnlabError(f"{rule}: the final subject has no size word (size {s.size:.3f})")
        a, b, key = f"it {RULES[rule].cue}", f"it is {word}", word
    elif rule == "fall":
        a, b, key = "it falls down", f"it is {position_phrase(s.x, s.y)}", "bottom"
        if key not in b.split():
            raise AttnlabError(f"fall: the final subject is not at the bottom ({b!r})")
    else:
        raise AttnlabError(f"unknown causal family {rule!r}; known: {', '.join(CAUSAL_FAMILIES)}")
    words = b.split()
    words[words.index(key)] = CONTROL_SWAPS[key]
    return a, b, " ".join(words)


def causal_pair(rule: str, final: Scene, connective: str) -> tuple[str, str, str]:
    """(correct caption, order-swapped foil, one-word control foil): "A so B" / "B so A" / "A so B'"
    for `so`; "B because A" / "A because B" / "B' because A" for `because`."""
    a, b, b_wrong = causal_clauses(rule, final)
    if connective == "so":
        return f"{a} so {b}", f"{b} so {a}", f"{a} so {b_wrong}"
    if connective == "because":
        return f"{b} because {a}", f"{a} because {b}", f"{b_wrong} because {a}"
    raise AttnlabError(f"unknown connective {connective!r}; known: {', '.join(CONNECTIVES)}")


def vision_targets(scene: Scene) -> dict:
    """Stage-V multi-label targets of a scene: present (18 bools, TYPES order), count, background,
    ring (any subject ringed)."""
    present = present_types(scene)
    return {"present": [t in present for t in TYPES], "count": len(scene.subjects),
            "background": scene.background, "ring": any(s.ring for s in scene.subjects)}


PATCH_BACKGROUND = len(TYPES)  # the per-patch class of a background patch (after the 18 types)
PATCH_IGNORE = -100  # a patch with some subject pixels but under PATCH_THRESHOLD of every subject's


def patch_targets(scene: Scene, object_patches: dict, background_patches: list, n_patches: int) -> list[int]:
    """Stage-V per-patch classes of an image, from its exact-render-mask patch indices (the
    `object_patches` / `background_patches` columns): the TYPES index of the subject covering the
    patch, PATCH_BACKGROUND for a patch with no subject pixel, PATCH_IGNORE otherwise (a partly
    covered patch). A patch listed under several subjects takes the last in scene order (painted on
    top by world.render)."""
    out = [PATCH_IGNORE] * n_patches
    for k in background_patches:
        out[int(k)] = PATCH_BACKGROUND
    for i, patches in sorted((int(k), v) for k, v in object_patches.items()):
        t = TYPES.index(type_of(scene.subjects[i]))
        for k in patches:
            out[int(k)] = t
    return out


def row_vision_targets(row, n_patches: int) -> dict:
    """vision_targets of a data row's scene plus its per-patch classes ("patch", patch_targets)."""
    scene = scene_of(row)
    obj, bg = load_patches(row)
    return {**vision_targets(scene), "patch": patch_targets(scene, obj, bg, n_patches)}


# ---------------------------------------------------------------- examples

@dataclass
class _Ctx:
    prior: Prior
    max_subjects: int
    size: int
    patch: int
    exclude: set  # sha1 of PNG bytes of images other splits hold
    seen: set  # this split's own image hashes (added to the next split's exclusion)


def _png(scene: Scene, ctx: _Ctx):
    """(png, object_patches, background_patches, sha1), or None when the image is excluded."""
    r = render(scene, ctx.size)
    png = to_png(r.image)
    h = hashlib.sha1(png).hexdigest()
    if h in ctx.exclude:
        return None
    obj, bg = patch_indices(r.masks, ctx.patch)
    return png, obj, bg, h


def _row(ctx: _Ctx, scene: Scene, *, with_image: bool, task: str, prompt: str, answer: str,
         subject: int = -1, question: str = "", foil: str = "", pope_split: str = ""):
    if with_image:
        got = _png(scene, ctx)
        if got is None:
            return None
        png, obj, bg, h = got
        ctx.seen.add(h)
        prompt = f"{IMAGE_TOKEN} {prompt}"
    else:
        png, obj, bg = None, {}, []
    return {"task": task, "question": question, "prompt": prompt, "answer": answer, "foil": foil, "image": png,
            "scene": json.dumps(scene.to_dict()), "subject": int(subject),
            "object_patches": json.dumps(obj), "background_patches": json.dumps(bg),
            "pope_split": pope_split, "prior_violating": prior_violating(scene, ctx.prior)}


def _tries(make, what: str, limit: int = 10000):
    for _ in range(limit):
        row = make()
        if row is not None:
            return row
    raise AttnlabError(f"could not draw a {what} example in {limit} tries")


def caption_example(rng, ctx: _Ctx, with_image: bool = True) -> dict:
    def make():
        scene = prior_scene(rng, ctx.prior, ctx.max_subjects)
        return _row(ctx, scene, with_image=with_image, task="caption", prompt="describe", answer=caption(scene))
    return _tries(make, "caption")


def existence_example(rng, ctx: _Ctx, answer: str, split: str, with_image: bool = True) -> dict:
    """A POPE question of `split` whose answer is `answer`; the scene is drawn from the scenes that
    admit a negative of `split` whatever the answer, so yes and no see the same scenes."""
    def make():
        scene = prior_scene(rng, ctx.prior, ctx.max_subjects)
        negatives = pope_negatives(scene, ctx.prior, split)
        if not negatives or not scene.subjects:
            return None
        if answer == "yes":
            subject = int(rng.integers(len(scene.subjects)))
            t = type_of(scene.subjects[subject])
        else:
            subject, t = -1, negatives[int(rng.integers(len(negatives)))]
        return _row(ctx, scene, with_image=with_image, task="existence", prompt=existence_question(t),
                    answer=answer, subject=subject, pope_split=split)
    return _tries(make, f"{split} existence")


def vqa_example(rng, ctx: _Ctx, kind: str, with_image: bool = True) -> dict:
    """An attribute question of `kind` (ATTRIBUTE_KINDS) or a hidden_identity question."""
    def make():
        scene = prior_scene(rng, ctx.prior, ctx.max_subjects)
        if kind == "hidden_identity":
            qa, task, question = hidden_identity_question(scene, rng), "hidden_identity", ""
        else:
            qa, task, question = attribute_question(scene, kind, rng), "attribute", kind
        if qa is None:
            return None
        q, a, subject = qa
        return _row(ctx, scene, with_image=with_image, task=task, question=question, prompt=q, answer=a,
                    subject=subject)
    return _tries(make, f"{kind} question")


def causal_example(rng, ctx: _Ctx, rule: str, connective: str, with_image: bool = True) -> dict:
    """The final frame of a `rule` trajectory, captioned "A so B" / "B because A"; foil (JSON)
    holds the order-swapped caption ("swapped") and the one-word control ("control")."""
    def make():
        r = RULES[rule]
        final = r.frames(r.initial_scene(rng), 4)[-1]
        correct, swapped, control = causal_pair(rule, final, connective)
        foil = json.dumps({"swapped": swapped, "control": control, "rule": rule, "connective": connective})
        return _row(ctx, final, with_image=with_image, task="causal_order", prompt="describe", answer=correct,
                    foil=foil)
    return _tries(make, f"{rule} causal_order")


def _counts(mix: dict[str, float], n: int) -> dict[str, int]:
    """Exact counts per mix entry summing to n (largest remainder, ties in mix order)."""
    raw = {k: v * n for k, v in mix.items()}
    out = {k: int(np.floor(v)) for k, v in raw.items()}
    rest = n - sum(out.values())
    for k in sorted(raw, key=lambda k: -(raw[k] - out[k]))[:rest]:
        out[k] += 1
    return out


def _balanced(n: int, values: tuple, rng) -> list:
    """n values cycling over `values`, shuffled (each value n // len or one more times)."""
    vals = [values[i % len(values)] for i in range(n)]
    return [vals[i] for i in rng.permutation(n)]


def check_mix(mix: dict, what: str = "mix") -> dict[str, float]:
    """A stage mix {caption, existence, vqa: share} with every share in [0, 1] and the shares summing
    to 1 (an AttnlabError naming `what` otherwise)."""
    kinds = set(STAGE_MIXES["S"])
    if not isinstance(mix, dict) or set(mix) != kinds:
        raise AttnlabError(f"{what} must map each of {', '.join(sorted(kinds))} to a share, got {mix!r}")
    if any(not 0.0 <= float(v) <= 1.0 for v in mix.values()) or abs(sum(map(float, mix.values())) - 1.0) > 1e-6:
        raise AttnlabError(f"{what}: the shares must be in [0, 1] and sum to 1, got {mix!r}")
    return {k: float(mix[k]) for k in STAGE_MIXES["S"]}


def stage_examples(rng, ctx: _Ctx, stage: str, n: int, causal_fraction: float,
                   mix: dict[str, float] | None = None) -> list[dict]:
    """n training rows of stage T, A or S (STAGE_MIXES, or `mix` in its place), in a seeded random order."""
    with_image = stage != "T"
    counts = _counts(mix or STAGE_MIXES[stage], n)
    kinds = (["caption"] * counts.get("caption", 0) + ["existence"] * counts.get("existence", 0)
             + ["vqa"] * counts.get("vqa", 0))
    n_causal = int(round(causal_fraction * counts.get("caption", 0)))
    causal_slots = set(rng.permutation(counts.get("caption", 0))[:n_causal].tolist())
    answers = _balanced(counts.get("existence", 0), ("yes", "no"), rng)
    vqa_kinds = _balanced(counts.get("vqa", 0), VQA_KINDS, rng)
    causal = _balanced(n_causal, tuple((r, c) for r in CAUSAL_FAMILIES for c in CONNECTIVES), rng)
    rows, i_cap, i_ex, i_vqa, i_causal = [], 0, 0, 0, 0
    for kind in kinds:
        if kind == "caption":
            if i_cap in causal_slots:
                rule, conn = causal[i_causal]
                i_causal += 1
                rows.append(causal_example(rng, ctx, rule, conn, with_image))
            else:
                rows.append(caption_example(rng, ctx, with_image))
            i_cap += 1
        elif kind == "existence":
            rows.append(existence_example(rng, ctx, answers[i_ex], "random", with_image))
            i_ex += 1
        else:
            rows.append(vqa_example(rng, ctx, vqa_kinds[i_vqa], with_image))
            i_vqa += 1
    for r in rows:
        r["stage"] = stage
    return [rows[i] for i in rng.permutation(len(rows))]


def eval_examples(rng, ctx: _Ctx, n: int) -> list[dict]:
    """Dev / test rows per unit n: n captions; n existence questions per POPE split (half yes,
    shuffled); n attribute questions (kinds in turn); n hidden_identity; n causal_order (families x
    connectives in turn). Grouped by task, in that order."""
    rows = [caption_example(rng, ctx) for _ in range(n)]
    for split in POPE_SPLITS:
        answers = ["yes"] * (n // 2) + ["no"] * (n - n // 2)
        rows += [existence_example(rng, ctx, answers[i], split) for i in rng.permutation(n)]
    rows += [vqa_example(rng, ctx, ATTRIBUTE_KINDS[i % len(ATTRIBUTE_KINDS)]) for i in range(n)]
    rows += [vqa_example(rng, ctx, "hidden_identity") for _ in range(n)]
    pairs = [(r, c) for r in CAUSAL_FAMILIES for c in CONNECTIVES]
    rows += [causal_example(rng, ctx, *pairs[i % len(pairs)]) for i in range(n)]
    for r in rows:
        r["stage"] = ""
    return rows


def synthesize(seed: int, prior: Prior, *, n_train: int, n_dev: int, n_test: int, causal_fraction: float = 0.0,
               max_subjects: int = 3, size: int = 32, patch: int = 4,
               s_mix: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The train / dev / test frames of one data seed (SCHEMA columns). train: n_train rows per
    stage (T, A, S); dev / test: eval_examples with unit n_dev / n_test. Each split draws from its
    own derived seed; test first, then dev, then train, each skipping the images earlier ones hold.
    `s_mix` replaces stage S's mix (STAGE_MIXES["S"], the design's); T keeps the design's mix, and
    T's and A's rows do not depend on it (S's rows are drawn last)."""
    mixes = {"S": check_mix(s_mix, "s_mix")} if s_mix is not None else {}
    if not 0.0 <= causal_fraction <= 1.0:
        raise AttnlabError(f"vlm causal_fraction must be in [0, 1], got {causal_fraction}")
    if not 1 <= max_subjects <= 4:
        raise AttnlabError(f"vlm max_subjects must be in 1..4, got {max_subjects}")
    if min(n_train, n_dev, n_test) < 0:
        raise AttnlabError(f"vlm n per split must be >= 0, got train {n_train}, dev {n_dev}, test {n_test}")
    exclude: set[str] = set()
    out: dict[str, pd.DataFrame] = {}
    for split in ("test", "dev", "train"):
        ctx = _Ctx(prior, max_subjects, size, patch, exclude, set())
        if split == "train":
            rows = []
            for stage in STAGES:
                rng = np.random.default_rng(derive_seed(seed, "vlm_data", split, stage))
                rows += stage_examples(rng, ctx, stage, n_train, causal_fraction, mixes.get(stage))
        else:
            rng = np.random.default_rng(derive_seed(seed, "vlm_data", split))
            rows = eval_examples(rng, ctx, n_dev if split == "dev" else n_test)
        for i, r in enumerate(rows):
            r["id"] = f"{split}-{i:06d}"
            r["split"] = split
        out[split] = pd.DataFrame(rows, columns=SCHEMA)
        exclude = exclude | ctx.seen
    return {s: out[s] for s in SPLITS}


def load_patches(row) -> tuple[dict[int, list[int]], list[int]]:
    """(object_patches with int keys, background_patches) of a row (a Series or namedtuple)."""
    obj = json.loads(row.object_patches)
    return {int(k): v for k, v in obj.items()}, json.loads(row.background_patches)


def scene_of(row) -> Scene:
    return Scene.from_dict(json.loads(row.scene))
