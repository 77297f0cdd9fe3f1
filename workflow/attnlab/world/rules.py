"""Causal rule families: deterministic four-stage processes of the image world.

Each rule maps a scene to a trajectory of scenes (`frames`, frame 0 = the given scene) and scores
how well a parsed trajectory obeys it (`adherence`, in [0, 1]). Every rule keeps each subject's
hidden `core` across frames (identity), so a generated sequence can be checked for identity
independently of the rule.

Envision domains (one family each in attnlab.world.envision_prompts, ENVISION_RULES):
  Physics -> fall (free fall from rest, y - y0 proportional to t^2)
  Chemistry -> mix (two subjects approach; on contact both take the mixed colour)
  Biology -> divide (one subject becomes two, then four, same colour/shape/core, area kept)
  Geography -> erode (the subject shrinks to half its size)
  Meteorology -> fog (the day turns foggy)
  Culture/History -> stack (a tower grows block by block: counting)
MuCR cue types (one family each in attnlab.world.mucr, MUCR_RULES), mapped onto this world:
  action -> fall ("falls down": the subject moves)
  appearance -> ripen ("ripens": colour goes green, yellow, orange, red)
  clothing -> dress ("puts on a ring": the subject gains a white outline ring, a visible accessory)
  environment -> nightfall ("night falls": the background turns from day to night)
Extra family: grow (Biology, size doubles).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from attnlab.world.caption import subject_phrase
from attnlab.world.metrics import matched
from attnlab.world.scene import COLORS, GAP, MARGIN, RING_REACH, SHAPES, Scene, Subject, random_scene

DOMAINS = ("Biology", "Chemistry", "Physics", "Geography", "Meteorology", "Culture/History")
CUE_TYPES = ("action", "appearance", "clothing", "environment")
RIPEN_PATH = ("green", "yellow", "orange", "red")
MIXES = {frozenset(("red", "blue")): "purple", frozenset(("blue", "yellow")): "green",
         frozenset(("red", "yellow")): "orange"}


@dataclass(frozen=True)
class Rule:
    name: str
    domain: str
    cue_type: str | None
    cue: str  # MuCR cue phrase, VOCAB words only
    process: str  # Envision process_type
    _frames: Callable[[Scene, int], list[Scene]]
    _adherence: Callable[[list[Scene], list[Scene]], float]
    _initial: Callable[[np.random.Generator], Scene]
    clause: str = "{subjects} {cue}"  # how a prompt names the process; {subjects}: subject phrases

    def frames(self, scene: Scene, n: int = 4) -> list[Scene]:
        """The deterministic trajectory of `scene` under this rule; frame 0 is `scene` itself."""
        if n < 2:
            raise ValueError(f"a trajectory needs n >= 2 frames, got {n}")
        out = self._frames(scene.copy(), n)
        out[0] = scene.copy()
        return out

    def adherence(self, parsed: list[Scene], truth: list[Scene]) -> float:
        """How well the parsed trajectory obeys the rule, in [0, 1] (1 = obeys it exactly)."""
        if len(parsed) != len(truth):
            raise ValueError(f"{len(parsed)} parsed frames for {len(truth)} true frames")
        return float(np.clip(self._adherence(parsed, truth), 0.0, 1.0))

    def describe(self, scene: Scene) -> str:
        """The process in VOCAB words, e.g. "a red circle falls down", "night falls around a red circle"."""
        n = 2 if self.name == "mix" else 1
        subjects = " and ".join(subject_phrase(s) for s in scene.subjects[:n]) or "nothing"
        return self.clause.format(subjects=subjects, cue=self.cue)

    def initial_scene(self, rng: np.random.Generator) -> Scene:
        """A random scene this rule's trajectory fits in the frame (non-overlapping throughout)."""
        return self._initial(rng)


# ---------------------------------------------------------------- helpers

def _times(n: int) -> np.ndarray:
    return np.arange(n) / (n - 1)


def _subject(rng, color=None, shape=None, size=(0.13, 0.2), core=None, ring=False) -> Subject:
    return Subject(shape or SHAPES[rng.integers(len(SHAPES))], color or list(COLORS)[rng.integers(len(COLORS))],
                   float(rng.uniform(*size)), 0.5, 0.5,
                   core or ("none", "white", "black")[rng.integers(3)], ring)


def _place(rng, s: Subject, reach: float | None = None, x=None, y=None) -> Subject:
    r = s.reach() if reach is None else reach
    lo, hi = MARGIN + r, 1 - MARGIN - r
    return replace(s, x=float(rng.uniform(lo, hi)) if x is None else x,
                   y=float(rng.uniform(lo, hi)) if y is None else y)


def _track(parsed: list[Scene], truth: list[Scene], index: int = 0) -> list[Subject | None]:
    """Per frame, the parsed subject matched to truth subject `index` (None when missing)."""
    out = []
    for p, t in zip(parsed, truth):
        got = matched(p, t) if index < len(t.subjects) else []
        out.append(got[index] if got else None)
    return out


def _frame_mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else 0.0


# ---------------------------------------------------------------- fall (Physics / action)

def _fall_frames(scene: Scene, n: int) -> list[Scene]:
    out = []
    if not scene.subjects:
        return [scene.copy() for _ in range(n)]
    s0 = scene.subjects[0]
    floor = 1 - MARGIN - s0.reach()
    for t in _times(n):
        f = scene.copy()
        f.subjects[0] = replace(s0, y=float(s0.y + (max(floor, s0.y) - s0.y) * t * t))
        out.append(f)
    return out


def _fit_rms(t: np.ndarray, y: np.ndarray, basis: np.ndarray) -> float:
    X = np.stack([np.ones_like(t), basis], 1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(np.sqrt(np.mean((X @ coef - y) ** 2)))


def fall_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """presence x drop x law. presence: fraction of frames where the subject is found; drop: the
    parsed downward displacement as a fraction of the true one (clipped to [0, 1]); law: how much
    better free fall from rest (y = c + a t^2) explains the parsed heights than constant velocity
    (y = c + b t): rms_lin / (rms_lin + rms_quad), 1 for an exact fall, 0 for an exact linear
    motion, about 0.5 when neither fits. Needs the subject in >= 3 frames (else 0)."""
    track = _track(parsed, truth)
    t = _times(len(truth))
    keep = [k for k, s in enumerate(track) if s is not None]
    if len(keep) < 3:
        return 0.0
    tk = t[keep]
    y = np.array([track[k].y for k in keep])
    ty = np.array([truth[k].subjects[0].y for k in keep])
    true_drop = ty[-1] - ty[0]
    if true_drop <= 0:
        return 0.0
    drop = float(np.clip((y[-1] - y[0]) / true_drop, 0, 1))
    rq, rl = _fit_rms(tk, y, tk**2), _fit_rms(tk, y, tk)
    law = 0.5 if rq + rl < 1e-9 else rl / (rl + rq)
    return len(keep) / len(truth) * drop * law


def _fall_initial(rng) -> Scene:
    s = _subject(rng, size=(0.12, 0.18))
    s = _place(rng, s, y=MARGIN + s.reach() + float(rng.uniform(0, 0.05)))
    return Scene([s], str(rng.choice(["day", "night"])))


# ---------------------------------------------------------------- ripen (Biology / appearance)

def _ripen_frames(scene: Scene, n: int) -> list[Scene]:
    if not scene.subjects:
        return [scene.copy() for _ in range(n)]
    s0 = scene.subjects[0]
    start = RIPEN_PATH.index(s0.color) if s0.color in RIPEN_PATH else 0
    out = []
    for t in _times(n):
        f = scene.copy()
        f.subjects[0] = replace(s0, color=RIPEN_PATH[start + int(round(t * (len(RIPEN_PATH) - 1 - start)))])
        out.append(f)
    return out


def _attribute_adherence(attr: str):
    def score(parsed: list[Scene], truth: list[Scene]) -> float:
        """Fraction of frames whose tracked subject shows the true value of the attribute."""
        track = _track(parsed, truth)
        return _frame_mean(s is not None and getattr(s, attr) == getattr(t.subjects[0], attr)
                           for s, t in zip(track, truth))
    score.__doc__ = f"Fraction of frames whose tracked subject has the true {attr}."
    return score


def _colour_tracked_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """Fraction of frames showing the subject (matched by shape and position, since its colour
    changes) in its true colour."""
    ok = []
    for p, t in zip(parsed, truth):
        ts = t.subjects[0]
        cands = [s for s in p.subjects if s.shape == ts.shape] or p.subjects
        if not cands:
            ok.append(False)
            continue
        s = min(cands, key=lambda s: np.hypot(s.x - ts.x, s.y - ts.y))
        ok.append(s.color == ts.color)
    return _frame_mean(ok)


def _ripen_initial(rng) -> Scene:
    s = _place(rng, _subject(rng, color="green", size=(0.13, 0.22)))
    return Scene([s], str(rng.choice(["day", "night"])))


# ---------------------------------------------------------------- dress (Culture / clothing)

def _dress_frames(scene: Scene, n: int) -> list[Scene]:
    out = []
    for k in range(n):
        f = scene.copy()
        if f.subjects:
            f.subjects[0] = replace(f.subjects[0], ring=k >= n // 2)
        out.append(f)
    return out


def _dress_initial(rng) -> Scene:
    s = _subject(rng, size=(0.13, 0.2))
    s = _place(rng, s, reach=s.size * RING_REACH)
    return Scene([s], str(rng.choice(["day", "night", "fog"])))


# ---------------------------------------------------------------- background rules

def _background_frames(before: str, after: str):
    def frames(scene: Scene, n: int) -> list[Scene]:
        return [scene.copy(background=before if k < n // 2 else after) for k in range(n)]
    return frames


def background_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """Fraction of frames with the true background."""
    return _frame_mean(p.background == t.background for p, t in zip(parsed, truth))


def _background_initial(before: str):
    def initial(rng) -> Scene:
        return random_scene(rng, int(rng.integers(1, 3)), backgrounds=(before,))
    return initial


# ---------------------------------------------------------------- size rules (grow, erode)

def _size_frames(final_ratio: float):
    def frames(scene: Scene, n: int) -> list[Scene]:
        if not scene.subjects:
            return [scene.copy() for _ in range(n)]
        s0 = scene.subjects[0]
        out = []
        for t in _times(n):
            f = scene.copy()
            f.subjects[0] = replace(s0, size=float(s0.size * (1 + (final_ratio - 1) * t)))
            out.append(f)
        return out
    return frames


def size_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """Mean over frames of 1 - |parsed size ratio - true size ratio| / |true total change|
    (ratios to frame 0, so a parser's constant size bias cancels); a missing subject scores 0."""
    track = _track(parsed, truth)
    if track[0] is None:
        return 0.0
    true0 = truth[0].subjects[0].size
    total = abs(truth[-1].subjects[0].size / true0 - 1)
    if total == 0:
        return 0.0
    scores = []
    for s, t in zip(track, truth):
        if s is None:
            scores.append(0.0)
            continue
        err = abs(s.size / track[0].size - t.subjects[0].size / true0)
        scores.append(max(0.0, 1 - err / total))
    return _frame_mean(scores)


def _size_initial(size: tuple[float, float], final_ratio: float):
    def initial(rng) -> Scene:
        s = _subject(rng, size=size)
        s = _place(rng, s, reach=s.size * max(1.0, final_ratio))
        return Scene([s], str(rng.choice(["day", "night", "fog"])))
    return initial


# ---------------------------------------------------------------- divide (Biology)

def _n_cells(k: int, n: int) -> int:
    return 2 ** int(np.floor(2 * k / (n - 1) + 1e-9))


def _divide_frames(scene: Scene, n: int) -> list[Scene]:
    if not scene.subjects:
        return [scene.copy() for _ in range(n)]
    s0, rest = scene.subjects[0], scene.subjects[1:]
    out = []
    for k in range(n):
        cells = _n_cells(k, n)
        size = s0.size / np.sqrt(cells)  # total area kept
        d = size + GAP / 2 + 0.01
        offsets = {1: [(0, 0)], 2: [(-d, 0), (d, 0)], 4: [(-d, -d), (d, -d), (-d, d), (d, d)]}[cells]
        subs = [replace(s0, size=float(size), x=float(s0.x + ox), y=float(s0.y + oy)) for ox, oy in offsets]
        out.append(Scene(subs + [replace(s) for s in rest], scene.background))
    return out


def divide_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """Fraction of frames with the true number of subjects, all of the dividing subject's colour
    and shape."""
    ok = []
    for p, t in zip(parsed, truth):
        c, s = t.subjects[0].color, t.subjects[0].shape
        ok.append(len(p.subjects) == len(t.subjects) and all(q.color == c and q.shape == s for q in p.subjects))
    return _frame_mean(ok)


def _divide_initial(rng) -> Scene:
    s = _subject(rng, size=(0.22, 0.25))
    reach = s.size / 2 + s.size / 2 + GAP / 2 + 0.01  # four cells of half the circumradius
    s = _place(rng, s, reach=max(reach, s.size / np.sqrt(2) * 2 + GAP / 2 + 0.01))
    return Scene([s], str(rng.choice(["day", "night", "fog"])))


# ---------------------------------------------------------------- mix (Chemistry)

def _mix_frames(scene: Scene, n: int) -> list[Scene]:
    if len(scene.subjects) < 2:
        return [scene.copy() for _ in range(n)]
    a, b = scene.subjects[:2]
    mixed = MIXES.get(frozenset((a.color, b.color)), a.color)
    dx, dy = b.x - a.x, b.y - a.y
    dist = float(np.hypot(dx, dy))
    contact = a.reach() + b.reach() + GAP
    shift = max(0.0, dist - contact) / 2
    ux, uy = (dx / dist, dy / dist) if dist > 0 else (1.0, 0.0)
    out = []
    for k, t in enumerate(_times(n)):
        f = scene.copy()
        last = k == n - 1
        f.subjects[0] = replace(a, x=float(a.x + ux * shift * t), y=float(a.y + uy * shift * t),
                                color=mixed if last else a.color)
        f.subjects[1] = replace(b, x=float(b.x - ux * shift * t), y=float(b.y - uy * shift * t),
                                color=mixed if last else b.color)
        out.append(f)
    return out


def mix_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """colour x approach. colour: mean over frames and the two subjects (matched by shape, then
    position) of showing the true colour (the originals before contact, the mixture after);
    approach: the parsed closing of their distance as a fraction of the true one (clipped)."""
    cols, dists = [], []
    for p, t in zip(parsed, truth):
        picks = []
        for ts in t.subjects[:2]:
            cands = [s for s in p.subjects if s.shape == ts.shape] or p.subjects
            s = min(cands, key=lambda s: np.hypot(s.x - ts.x, s.y - ts.y)) if cands else None
            picks.append(s)
            cols.append(s is not None and s.color == ts.color)
        dists.append(None if None in picks or picks[0] is picks[1] else
                     float(np.hypot(picks[0].x - picks[1].x, picks[0].y - picks[1].y)))
    tsub = [t.subjects for t in (truth[0], truth[-1])]
    true_close = float(np.hypot(tsub[0][0].x - tsub[0][1].x, tsub[0][0].y - tsub[0][1].y)
                       - np.hypot(tsub[1][0].x - tsub[1][1].x, tsub[1][0].y - tsub[1][1].y))
    if dists[0] is None or dists[-1] is None or true_close <= 0:
        approach = 0.0
    else:
        approach = float(np.clip((dists[0] - dists[-1]) / true_close, 0, 1))
    return _frame_mean(cols) * approach


def _mix_initial(rng) -> Scene:
    pair = sorted(list(MIXES)[rng.integers(len(MIXES))])  # sorted: a frozenset's order follows PYTHONHASHSEED
    rng.shuffle(pair)
    shapes = [SHAPES[i] for i in rng.permutation(len(SHAPES))[:2]]
    a = _subject(rng, color=pair[0], shape=shapes[0], size=(0.12, 0.15))
    b = _subject(rng, color=pair[1], shape=shapes[1], size=(0.12, 0.15))
    y = float(rng.uniform(0.35, 0.65))
    a = replace(a, x=MARGIN + a.reach() + float(rng.uniform(0, 0.05)), y=y)
    b = replace(b, x=1 - MARGIN - b.reach() - float(rng.uniform(0, 0.05)), y=y)
    return Scene([a, b], str(rng.choice(["day", "night", "fog"])))


# ---------------------------------------------------------------- stack (Culture/History)

_HALF_HEIGHT = {"circle": (1.0, 1.0), "square": (2**-0.5, 2**-0.5), "triangle": (1.0, 0.5)}  # (up, down) / r


def _stack_frames(scene: Scene, n: int) -> list[Scene]:
    if not scene.subjects:
        return [scene.copy() for _ in range(n)]
    base = scene.subjects[0]
    up, down = _HALF_HEIGHT[base.shape]
    pitch = base.size * (up + down) + GAP
    used = {s.color for s in scene.subjects}
    spare = [c for c in COLORS if c not in used] or list(COLORS)
    out = []
    for k in range(n):
        f = scene.copy()
        for m in range(1, k + 1):
            f.subjects.append(replace(base, color=spare[(m - 1) % len(spare)], y=float(base.y - m * pitch),
                                      core="none", ring=False))
        out.append(f)
    return out


def stack_adherence(parsed: list[Scene], truth: list[Scene]) -> float:
    """Fraction of frames with the true number of blocks, stacked in one column (centres within
    one block size of the base's x)."""
    ok = []
    for p, t in zip(parsed, truth):
        base = t.subjects[0]
        ok.append(len(p.subjects) == len(t.subjects)
                  and all(abs(s.x - base.x) <= base.size for s in p.subjects))
    return _frame_mean(ok)


def _stack_initial(rng) -> Scene:
    s = _subject(rng, shape="square", size=(0.1, 0.11))
    s = replace(s, x=float(rng.uniform(0.3, 0.7)), y=float(1 - MARGIN - s.size / np.sqrt(2) - 0.01))
    return Scene([s], str(rng.choice(["day", "night", "fog"])))


# ---------------------------------------------------------------- registry

RULES: dict[str, Rule] = {r.name: r for r in [
    Rule("fall", "Physics", "action", "falls down", "free fall", _fall_frames, fall_adherence, _fall_initial),
    Rule("ripen", "Biology", "appearance", "ripens", "ripening", _ripen_frames,
         _colour_tracked_adherence, _ripen_initial),
    Rule("dress", "Culture/History", "clothing", "puts on a ring", "dressing", _dress_frames,
         _attribute_adherence("ring"), _dress_initial),
    Rule("nightfall", "Meteorology", "environment", "night falls", "nightfall",
         _background_frames("day", "night"), background_adherence, _background_initial("day"), "{cue} around {subjects}"),
    Rule("fog", "Meteorology", None, "fog rolls in", "fog", _background_frames("day", "fog"),
         background_adherence, _background_initial("day"), "{cue} around {subjects}"),
    Rule("grow", "Biology", None, "grows bigger", "growth", _size_frames(2.0), size_adherence,
         _size_initial((0.11, 0.12), 2.0)),
    Rule("erode", "Geography", None, "erodes", "erosion", _size_frames(0.5), size_adherence,
         _size_initial((0.22, 0.25), 1.0)),
    Rule("divide", "Biology", None, "divides", "cell division", _divide_frames, divide_adherence, _divide_initial),
    Rule("mix", "Chemistry", None, "mix colours when they touch", "colour mixing", _mix_frames,
         mix_adherence, _mix_initial),
    Rule("stack", "Culture/History", None, "builds a tower", "stacking", _stack_frames, stack_adherence,
         _stack_initial),
]}
MUCR_RULES = {"action": "fall", "appearance": "ripen", "clothing": "dress", "environment": "nightfall"}
ENVISION_RULES = {"Physics": "fall", "Chemistry": "mix", "Biology": "divide", "Geography": "erode",
                  "Meteorology": "fog", "Culture/History": "stack"}


def get_rule(rule: "Rule | str") -> Rule:
    if isinstance(rule, Rule):
        return rule
    if rule not in RULES:
        raise KeyError(f"unknown rule {rule!r}; known: {sorted(RULES)}")
    return RULES[rule]
