"""Dense captions (the training style), I2V motion-only rewrites, and wrong rewrites for DPO.

Every text is generated from the spec in both languages. A dense caption states the static
features (framing, subject size/colour/shape, background) and the dynamic ones (motion
direction and speed, camera), in the order the rewriter is trained to write them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .lexicon import (
    BACKGROUND_WORDS,
    CAMERA_SENTENCE,
    COLOR_WORDS,
    FRAMING_LABEL,
    FRAMING_SENTENCE,
    SHAPE_WORDS,
    SIZE_WORDS,
    motion_phrase,
    noun_phrase,
)
from .parse import parse_caption
from .spec import CAMERAS, COLORS, DIRECTIONS, SHAPES, SIZES, ClipSpec, Motion, Shot

LANGS = ("en", "zh")
__all__ = ["LANGS", "WrongRewrite", "clip_caption", "i2v_caption", "parse_caption", "shot_caption",
           "wrong_rewrites"]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _speed(shot: Shot) -> str | None:
    return None if shot.motion.direction == "static" else shot.motion.speed


def _subject_line(spec: ClipSpec, lang: str, count: int) -> str:
    """"A large red circle on a dark grey background" / "深灰色背景上，一个大的红色圆形"."""
    s, bg = spec.subject, spec.background.tone
    noun = noun_phrase(s.color, s.shape, s.size, lang, count)
    if lang == "en":
        return f"{_cap(noun)} on a {BACKGROUND_WORDS['en'][bg]} background"
    return f"{BACKGROUND_WORDS['zh'][bg]}背景上，{noun}"


def _action(shot: Shot, lang: str, plural: bool) -> str:
    """Motion clause plus camera sentence: "moves slowly to the right. The camera is fixed."."""
    motion = motion_phrase(shot.motion.direction, _speed(shot), lang, plural)
    stop = "." if lang == "en" else "。"
    return f"{motion}{stop}" + (" " if lang == "en" else "") + CAMERA_SENTENCE[lang][shot.camera]


def shot_caption(spec: ClipSpec, index: int, lang: str, count: int = 1) -> str:
    """A self-contained caption of one shot (what MM-RoPE places on that shot's frames)."""
    shot = spec.shots[index]
    framing = FRAMING_SENTENCE[lang][shot.framing]
    if lang == "en":
        return f"{framing} {_subject_line(spec, lang, count)} {_action(shot, lang, count > 1)}"
    return f"{framing}{_subject_line(spec, lang, count)}{_action(shot, lang, count > 1)}"


def _marker(index: int, framing: str, lang: str) -> str:
    label = FRAMING_LABEL[lang][framing]
    return f"Shot {index + 1} ({label}):" if lang == "en" else f"第{index + 1}个镜头（{label}）："


def _shot_sequence(spec: ClipSpec, lang: str, referent: str, plural: bool) -> str:
    parts = []
    for k, shot in enumerate(spec.shots):
        body = f"{referent}{' ' if lang == 'en' else ''}{_action(shot, lang, plural)}"
        parts.append(f"{_marker(k, shot.framing, lang)}{' ' if lang == 'en' else ''}{body}")
    return (" " if lang == "en" else "").join(parts)


def clip_caption(spec: ClipSpec, lang: str, count: int = 1) -> str:
    """The whole-clip dense caption: the shot caption for one shot; for several, the static
    description once, then each shot's framing, motion and camera behind a "Shot N" marker."""
    if len(spec.shots) == 1:
        return shot_caption(spec, 0, lang, count)
    n, shape = len(spec.shots), spec.subject.shape
    if lang == "en":
        referent = f"the {shape}{'s' if count > 1 else ''}"
        head = f"{_subject_line(spec, 'en', count)}, in {n} shots."
        return f"{head} {_shot_sequence(spec, 'en', referent, count > 1)}"
    head = f"{_subject_line(spec, 'zh', count)}，共{n}个镜头。"
    return head + _shot_sequence(spec, "zh", SHAPE_WORDS["zh"][shape], count > 1)


def i2v_caption(spec: ClipSpec, lang: str) -> str:
    """The I2V rewrite: motion and camera only; the first frame already shows the subject."""
    referent = "The subject" if lang == "en" else "主体"
    if len(spec.shots) == 1:
        return f"{referent}{' ' if lang == 'en' else ''}{_action(spec.shots[0], lang, False)}"
    return _shot_sequence(spec, lang, referent.lower() if lang == "en" else referent, False)


@dataclass(frozen=True)
class WrongRewrite:
    """A rewrite with exactly one attribute changed (the rejected side of a DPO pair).
    `attribute` names the parse_caption field that differs ("direction" may also add or
    drop the speed word when one side is static, since a static motion has no speed)."""

    attribute: str
    task: str
    lang: str
    text: str
    value: str  # the wrong value written


def _other(rng: np.random.Generator, options: tuple[str, ...], current: str) -> str:
    rest = [o for o in options if o != current]
    return rest[int(rng.integers(len(rest)))]


def _with_shot0(spec: ClipSpec, **changes: object) -> ClipSpec:
    return replace(spec, shots=(replace(spec.shots[0], **changes), *spec.shots[1:]))


def wrong_specs(spec: ClipSpec, task: str = "t2v") -> list[tuple[str, str, ClipSpec, int]]:
    """(attribute, wrong value, altered spec, count) for each corruption. Dynamic changes go to
    the first shot. Draws come from the spec's seed, so both languages get the same errors."""
    rng = np.random.default_rng([spec.seed, 55])
    s, shot0 = spec.subject, spec.shots[0]
    direction = _other(rng, DIRECTIONS, shot0.motion.direction)
    motion = Motion(direction, "slow" if direction == "static" else shot0.motion.speed)
    camera = _other(rng, CAMERAS, shot0.camera)
    out = [
        ("direction", direction, _with_shot0(spec, motion=motion), 1),
        ("camera", camera, _with_shot0(spec, camera=camera), 1),
    ]
    if task == "t2v":
        color, shape, size = _other(rng, tuple(COLORS), s.color), _other(rng, SHAPES, s.shape), _other(
            rng, SIZES, s.size)
        out += [
            ("color", color, replace(spec, subject=replace(s, color=color)), 1),
            ("shape", shape, replace(spec, subject=replace(s, shape=shape)), 1),
            ("size", size, replace(spec, subject=replace(s, size=size)), 1),
            ("count", "2", spec, 2),
        ]
    return out


def wrong_rewrites(spec: ClipSpec, lang: str, task: str = "t2v") -> list[WrongRewrite]:
    """Wrong T2V rewrites change colour, shape, size, count, direction or camera; wrong I2V
    rewrites change direction or camera (the only things an I2V caption states)."""
    out = []
    for attribute, value, wrong, count in wrong_specs(spec, task):
        text = clip_caption(wrong, lang, count) if task == "t2v" else i2v_caption(wrong, lang)
        out.append(WrongRewrite(attribute, task, lang, text, value))
    return out


def words_of(spec: ClipSpec, lang: str) -> list[str]:
    """Every spec word a clip caption must contain, compared case-insensitively (used by tests
    and data checks)."""
    s = spec.subject
    words = [SIZE_WORDS[lang][s.size], COLOR_WORDS[lang][s.color], SHAPE_WORDS[lang][s.shape],
             BACKGROUND_WORDS[lang][spec.background.tone]]
    for shot in spec.shots:
        words.append(FRAMING_LABEL[lang][shot.framing])
        words.append(CAMERA_SENTENCE[lang][shot.camera].rstrip(".。"))
        words.append(motion_phrase(shot.motion.direction, _speed(shot), lang))
    return words
