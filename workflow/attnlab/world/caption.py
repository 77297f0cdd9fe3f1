"""Captions of scenes, in a closed vocabulary (VOCAB builds the text-to-image tokenizer).

A caption names each subject's size word (when small or big), colour, shape and visible ring,
its rough position, and the background; never the hidden core. Example:
"a red circle on the left and a big blue square with a ring on the right at night".
"""

from __future__ import annotations

from attnlab.world.scene import BACKGROUNDS, COLORS, SHAPES, Scene, Subject

SMALL, BIG = 0.14, 0.2  # circumradius below / above which a size word is used
BACKGROUND_PHRASES = {"day": "in the day", "night": "at night", "fog": "in fog"}

# Words of the Envision-style frame prompts and the rule cues (kept here so VOCAB is complete;
# attnlab.world.envision_prompts and attnlab.world.rules draw their text from these words only).
PROMPT_WORDS = ("this is the 1th 2th 3th 4th event frame of a continuous four stage sequence "
                "showing")
CUE_WORDS = ("falls down ripens turns from to puts on divides into two four grows bigger "
             "erodes night fog rolls in colours mix when they touch builds tower around then")


def position_phrase(x: float, y: float) -> str:
    """"on the top left", "on the left", "in the center", ... from the centre position."""
    h = "left" if x < 0.4 else "right" if x > 0.6 else ""
    v = "top" if y < 0.4 else "bottom" if y > 0.6 else ""
    if not h and not v:
        return "in the center"
    return "on the " + " ".join(w for w in (v, h) if w)


def size_word(size: float) -> str:
    return "small" if size < SMALL else "big" if size > BIG else ""


def subject_phrase(subject: Subject) -> str:
    """"a red circle", "a small blue square with a ring"."""
    words = ["a", size_word(subject.size), subject.color, subject.shape]
    if subject.ring:
        words += ["with", "a", "ring"]
    return " ".join(w for w in words if w)


def caption(scene: Scene) -> str:
    """The scene in words: each subject with its position, joined by "and", then the background."""
    parts = [f"{subject_phrase(s)} {position_phrase(s.x, s.y)}" for s in scene.subjects]
    body = " and ".join(parts) if parts else "nothing"
    return f"{body} {BACKGROUND_PHRASES[scene.background]}"


def _vocab() -> list[str]:
    words = {"a", "and", "with", "ring", "nothing", "small", "big"}
    words |= set(COLORS) | set(SHAPES) | set(BACKGROUNDS)
    for p in BACKGROUND_PHRASES.values():
        words |= set(p.split())
    for x in (0.2, 0.5, 0.8):
        for y in (0.2, 0.5, 0.8):
            words |= set(position_phrase(x, y).split())
    words |= set(PROMPT_WORDS.split()) | set(CUE_WORDS.split())
    return sorted(words)


VOCAB: list[str] = _vocab()


def words_in_vocab(text: str) -> bool:
    """True when every whitespace-separated word of `text` is in VOCAB."""
    vocab = set(VOCAB)
    return all(w in vocab for w in text.split())
