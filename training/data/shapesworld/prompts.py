"""Short user prompts in varied phrasing, the inputs the rewriter learns to expand.

Each prompt records which parse_caption fields it states: a faithful rewrite must agree with
the prompt on exactly those (the rest it may fill in). Several templates per language and
task, so the rewriter learns the vocabulary, not one sentence pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lexicon import (
    BACKGROUND_WORDS,
    CAMERA_SHORT,
    COLOR_WORDS,
    EN_GERUND,
    FRAMING_LABEL,
    SHAPE_WORDS,
    SIZE_WORDS,
    motion_phrase,
)
from .spec import ClipSpec, Shot

STATIC = ("color", "shape")
DYNAMIC = ("direction",)


@dataclass(frozen=True)
class Prompt:
    text: str
    # parse_caption fields the prompt states, which a faithful rewrite must keep. An I2V
    # prompt's "the circle" only points at the first frame, so I2V fields are motion only.
    fields: tuple[str, ...]
    task: str
    template: int


def _speed(shot: Shot) -> str | None:
    return None if shot.motion.direction == "static" else shot.motion.speed


def _en_gerund(shot: Shot, with_speed: bool) -> str:
    g = EN_GERUND[shot.motion.direction]
    speed = _speed(shot)
    return f"{g} {'fast' if speed == 'fast' else 'slowly'}" if with_speed and speed else g


def _en_camera_clause(camera: str) -> str:
    return "the camera stays fixed" if camera == "fixed" else "the " + CAMERA_SHORT["en"][camera]


def _speed_fields(shot: Shot) -> tuple[str, ...]:
    return ("speed",) if _speed(shot) else ()


def _t2v_en(spec: ClipSpec) -> list[tuple[str, tuple[str, ...]]]:
    s, shot = spec.subject, spec.shots[0]
    c, sh, sz, bg = s.color, s.shape, s.size, BACKGROUND_WORDS["en"][spec.background.tone]
    d, sp = shot.motion.direction, _speed(shot)
    a = "an" if c[0] in "aeiou" else "a"
    return [
        (f"{a} {c} {sh} {EN_GERUND[d]}", ("count", *STATIC, *DYNAMIC)),
        (f"{c} {sh} {motion_phrase(d, None, 'en')}", (*STATIC, *DYNAMIC)),
        (f"a {sz} {c} {sh} {_en_gerund(shot, True)} on a {bg} background",
         ("count", "size", *STATIC, *DYNAMIC, *_speed_fields(shot), "background")),
        (f"{sz} {c} {sh}, {_en_gerund(shot, True)}, {CAMERA_SHORT['en'][shot.camera]}",
         ("size", *STATIC, *DYNAMIC, *_speed_fields(shot), "camera")),
        (f"make a video of {a} {c} {sh} that {motion_phrase(d, sp, 'en')} while "
         f"{_en_camera_clause(shot.camera)}", ("count", *STATIC, *DYNAMIC, *_speed_fields(shot), "camera")),
        (f"{FRAMING_LABEL['en'][shot.framing]} of a {sz} {c} {sh} {EN_GERUND[d]}",
         ("count", "framing", "size", *STATIC, *DYNAMIC)),
    ]


def _t2v_zh(spec: ClipSpec) -> list[tuple[str, tuple[str, ...]]]:
    s, shot = spec.subject, spec.shots[0]
    c, sh, sz = COLOR_WORDS["zh"][s.color], SHAPE_WORDS["zh"][s.shape], SIZE_WORDS["zh"][s.size]
    bg, d, sp = BACKGROUND_WORDS["zh"][spec.background.tone], shot.motion.direction, _speed(shot)
    move, move_sp = motion_phrase(d, None, "zh"), motion_phrase(d, sp, "zh")
    cam = CAMERA_SHORT["zh"][shot.camera]
    on_bg = f"{bg}背景上有一个{sz}{c}{sh}" + (move_sp if d == "static" else f"在{move_sp}")
    return [
        (f"画一个{move}的{c}{sh}", ("count", *STATIC, *DYNAMIC)),
        (f"{c}{sh}{move}", (*STATIC, *DYNAMIC)),
        (on_bg, ("count", "size", *STATIC, *DYNAMIC, *_speed_fields(shot), "background")),
        (f"{sz}{c}{sh}，{move_sp}，{cam}", ("size", *STATIC, *DYNAMIC, *_speed_fields(shot), "camera")),
        (f"生成一段视频：一个{c}{sh}{move}，{cam}", ("count", *STATIC, *DYNAMIC, "camera")),
        (f"{FRAMING_LABEL['zh'][shot.framing]}：一个{sz}{c}{sh}{move}",
         ("count", "framing", "size", *STATIC, *DYNAMIC)),
    ]


def _shot_list(spec: ClipSpec, lang: str, style: int) -> str:
    """Per-shot prompt segments behind "Shot N" markers, in one of two styles."""
    parts = []
    for k, shot in enumerate(spec.shots):
        label = FRAMING_LABEL[lang][shot.framing]
        if lang == "en":
            if style == 0:
                parts.append(f"Shot {k + 1}: {label}, {_en_gerund(shot, False)}.")
            else:
                parts.append(f"shot {k + 1} {label} {_en_gerund(shot, True)}, {CAMERA_SHORT['en'][shot.camera]}")
        elif style == 0:
            parts.append(f"第{k + 1}个镜头：{label}，{motion_phrase(shot.motion.direction, None, 'zh')}。")
        else:
            move = motion_phrase(shot.motion.direction, _speed(shot), "zh")
            parts.append(f"镜头{k + 1}{label}，{move}，{CAMERA_SHORT['zh'][shot.camera]}")
    return (" " if style == 0 else "; ").join(parts) if lang == "en" else ("" if style == 0 else "；").join(parts)


def _multi(spec: ClipSpec, lang: str, task: str) -> list[tuple[str, tuple[str, ...]]]:
    s, n = spec.subject, len(spec.shots)
    shot_fields = ("shots",)
    if lang == "en":
        bg = BACKGROUND_WORDS["en"][spec.background.tone]
        a = "an" if s.color[0] in "aeiou" else "a"
        intros = ([(f"{a} {s.color} {s.shape}", ("count", *STATIC)),
                   (f"a {s.size} {s.color} {s.shape} on a {bg} background", ("count", "size", *STATIC, "background")),
                   (f"{s.color} {s.shape}", STATIC), (f"{s.size} {s.color} {s.shape}", ("size", *STATIC))]
                  if task == "t2v" else
                  [("it moves", ()), ("the subject", ()), (f"the {s.shape}", ()), ("make it move", ())])
        return [(f"{intro}, {n} shots: {_shot_list(spec, 'en', i % 2)}" if i % 2 else
                 f"{intro}. {_shot_list(spec, 'en', 0)}", fields + shot_fields)
                for i, (intro, fields) in enumerate(intros)]
    c, sh, sz = COLOR_WORDS["zh"][s.color], SHAPE_WORDS["zh"][s.shape], SIZE_WORDS["zh"][s.size]
    bg = BACKGROUND_WORDS["zh"][spec.background.tone]
    intros = ([(f"一个{c}{sh}", ("count", *STATIC)), (f"{bg}背景上的一个{sz}{c}{sh}", ("count", "size", *STATIC,
               "background")), (f"{c}{sh}", STATIC), (f"{sz}{c}{sh}", ("size", *STATIC))]
              if task == "t2v" else [("让它动起来", ()), ("主体", ()), (sh, ()), ("画面中的主体", ())])
    return [(f"{intro}，分{n}个镜头：{_shot_list(spec, 'zh', i % 2)}" if i % 2 else
             f"{intro}。{_shot_list(spec, 'zh', 0)}", fields + shot_fields)
            for i, (intro, fields) in enumerate(intros)]


def _i2v(spec: ClipSpec, lang: str) -> list[tuple[str, tuple[str, ...]]]:
    shot = spec.shots[0]
    d, sp, cam = shot.motion.direction, _speed(shot), shot.camera
    spf = _speed_fields(shot)
    if lang == "en":
        return [
            (f"make it {motion_phrase(d, None, 'en', plural=True)}", DYNAMIC),
            (f"the {spec.subject.shape} {motion_phrase(d, sp, 'en')}", (*DYNAMIC, *spf)),
            (f"{_en_gerund(shot, True)}, {CAMERA_SHORT['en'][cam]}", (*DYNAMIC, *spf, "camera")),
            (f"it {motion_phrase(d, None, 'en')} while {_en_camera_clause(cam)}", (*DYNAMIC, "camera")),
        ]
    return [
        (f"让它{motion_phrase(d, None, 'zh')}", DYNAMIC),
        (f"{SHAPE_WORDS['zh'][spec.subject.shape]}{motion_phrase(d, sp, 'zh')}", (*DYNAMIC, *spf)),
        (f"主体{motion_phrase(d, sp, 'zh')}，{CAMERA_SHORT['zh'][cam]}", (*DYNAMIC, *spf, "camera")),
        (f"{motion_phrase(d, None, 'zh')}，{CAMERA_SHORT['zh'][cam]}", (*DYNAMIC, "camera")),
    ]


def user_prompts(spec: ClipSpec, lang: str, task: str = "t2v") -> list[Prompt]:
    """Every prompt template filled in for this clip (6 T2V / 4 I2V single-shot, 4 multi-shot)."""
    if len(spec.shots) > 1:
        rows = _multi(spec, lang, task)
    elif task == "t2v":
        rows = _t2v_en(spec) if lang == "en" else _t2v_zh(spec)
    else:
        rows = _i2v(spec, lang)
    return [Prompt(text, fields, task, i) for i, (text, fields) in enumerate(rows)]
