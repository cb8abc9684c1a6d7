"""parse_caption: read ShapesWorld attributes back out of an EN or ZH caption or prompt.

Used to check that a rewrite is faithful to its prompt (same colour, shape, direction...).
It knows the generator's vocabulary plus a few common synonyms; a field it cannot find is
None. Multi-shot texts ("Shot 2 (close-up): ...", "第2个镜头（特写）：...") also get a
per-shot list of the dynamic fields.
"""

from __future__ import annotations

import re
from typing import Any

from .lexicon import BACKGROUND_WORDS, COLOR_WORDS, SHAPE_WORDS

FIELDS = ("count", "size", "color", "shape", "background", "framing", "direction", "speed", "camera")

_ZH_COLORS = "|".join(COLOR_WORDS["zh"].values())
_HAS_HAN = re.compile(r"[\u4e00-\u9fff]")

# (value, pattern) lists; the earliest match in the text wins, so in a multi-shot caption the
# first shot's value is the top-level one.
_CAMERA: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("pan_left", r"\bpan(?:s|ning)?\s+(?:to\s+(?:the\s+)?)?left\b"),
        ("pan_right", r"\bpan(?:s|ning)?\s+(?:to\s+(?:the\s+)?)?right\b"),
        ("zoom_in", r"\bzoom(?:s|ing)?\s+in\b"),
        ("zoom_out", r"\bzoom(?:s|ing)?\s+out\b"),
        ("fixed", r"\bcamera\s+(?:is\s+|stays\s+)?(?:fixed|static|still|locked)\b|"
                  r"\b(?:fixed|static|still|locked)\s+camera\b"),
    ],
    "zh": [
        ("pan_left", r"镜头(?:缓慢)?(?:向|往)左(?:平移|摇|移动)"),
        ("pan_right", r"镜头(?:缓慢)?(?:向|往)右(?:平移|摇|移动)"),
        ("zoom_in", r"镜头(?:缓慢)?(?:推近|推进|拉近)"),
        ("zoom_out", r"镜头(?:缓慢)?拉远"),
        ("fixed", r"镜头(?:保持)?(?:固定|不动|静止)|固定镜头"),
    ],
}
_DIRECTION: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("bounce", r"\bbounc\w*"),
        ("static", r"\b(?:stays?|staying|stands?|standing|sits?|sitting)\s+still\b|"
                   r"\b(?:static|stationary|motionless|not\s+moving)\b"),
        ("left", r"\b(?:to\s+the\s+left|leftwards?|left)\b"),
        ("right", r"\b(?:to\s+the\s+right|rightwards?|right)\b"),
        ("up", r"\b(?:upwards?|up)\b"),
        ("down", r"\b(?:downwards?|down)\b"),
    ],
    "zh": [
        ("bounce", r"弹跳|跳动|弹起"),
        ("static", r"静止|不动"),
        ("left", r"(?:向|往)左"),
        ("right", r"(?:向|往)右"),
        ("up", r"(?:向|往)上"),
        ("down", r"(?:向|往)下"),
    ],
}
_SPEED = {
    "en": [("slow", r"\bslow(?:ly)?\b"), ("fast", r"\b(?:fast|quick(?:ly)?|rapid(?:ly)?)\b")],
    "zh": [("slow", r"缓慢|慢"), ("fast", r"快速|快")],
}
_FRAMING = {
    "en": [("wide", r"\bwide(?:\s+shot)?\b"), ("close", r"\bclose[\s-]?up\b")],
    "zh": [("wide", r"远景"), ("close", r"特写")],
}
_SHAPE_EN = "|".join(SHAPE_WORDS["en"])
_SIZE = {
    "en": [("large", r"\b(?:large|big)\b"), ("small", r"\b(?:small|little|tiny)\b")],
    "zh": [("large", rf"大(?:的)?(?={_ZH_COLORS})"), ("small", rf"小(?:的)?(?={_ZH_COLORS})")],
}
_COUNT = {
    "en": [("2", rf"\btwo\s+(?:\w+\s+){{0,3}}(?:{_SHAPE_EN})s\b"),
           ("1", rf"\b(?:a|an|one|single)\s+(?:\w+\s+){{0,3}}(?:{_SHAPE_EN})\b")],
    # "一个向右移动的红色圆形": the count word comes before the colour in the same clause.
    "zh": [("2", rf"(?:两|二|2)个(?=[^，。；：:,.（(]{{0,8}}?(?:{_ZH_COLORS}))"),
           ("1", rf"(?:一|1)个(?=[^，。；：:,.（(]{{0,8}}?(?:{_ZH_COLORS}))")],
}
_SHOT_MARKER = {"en": r"\bshot\s*(\d+)", "zh": r"第\s*(\d+)\s*个?镜头|镜头\s*(\d+)"}


def _vocab(table: dict[str, dict[str, str]], lang: str) -> list[tuple[str, str]]:
    words = table[lang]
    if lang == "en":  # "dark grey" also matches "dark gray"
        return [(k, r"\b" + re.escape(v).replace("grey", "gr[ae]y") + r"\b") for k, v in words.items()]
    return [(k, re.escape(v)) for k, v in words.items()]


def _first(text: str, options: list[tuple[str, str]]) -> str | None:
    best: tuple[int, str] | None = None
    for value, pattern in options:
        m = re.search(pattern, text, flags=re.IGNORECASE)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), value)
    return None if best is None else best[1]


def _strip(text: str, options: list[tuple[str, str]]) -> str:
    for _, pattern in options:
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return text


def _dynamic(text: str, lang: str) -> dict[str, Any]:
    """Framing, camera, direction, speed of one stretch of text. Camera phrases are read and
    removed first, so "pans to the right" never counts as the subject moving right."""
    camera = _first(text, _CAMERA[lang])
    rest = _strip(text, _CAMERA[lang])
    framing = _first(rest, _FRAMING[lang])
    rest = _strip(rest, _FRAMING[lang])
    direction = _first(rest, _DIRECTION[lang])
    speed = _first(rest, _SPEED[lang]) if direction not in (None, "static") else None
    return {"framing": framing, "direction": direction, "speed": speed, "camera": camera}


def _split_shots(text: str, lang: str) -> list[str]:
    marks = list(re.finditer(_SHOT_MARKER[lang], text, flags=re.IGNORECASE))
    if len(marks) < 2:
        return []
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [text[m.start():end] for m, end in zip(marks, ends, strict=True)]


def parse_caption(text: str) -> dict[str, Any]:
    """{count, size, color, shape, background, framing, direction, speed, camera, shots}; each
    a vocabulary value (count as int) or None. `shots` is a list of per-shot {framing,
    direction, speed, camera} for multi-shot texts, else None."""
    lang = "zh" if _HAS_HAN.search(text) else "en"
    segments = _split_shots(text, lang)
    head = text[: text.find(segments[0])] if segments else text
    background = _first(text, [(k, p + (r"\s+background" if lang == "en" else "背景"))
                               for k, p in _vocab(BACKGROUND_WORDS, lang)])
    # Background words never collide with subject colours, so colours come from the whole text.
    count = _first(text, _COUNT[lang])
    out: dict[str, Any] = {
        "count": int(count) if count else None,
        "size": _first(text, _SIZE[lang]),
        "color": _first(text, _vocab(COLOR_WORDS, lang)),
        "shape": _first(text, [(k, p[:-2] + r"s?\b") if lang == "en" else (k, p)
                               for k, p in _vocab(SHAPE_WORDS, lang)]),
        "background": background,
    }
    if segments:
        shots = [_dynamic(seg, lang) for seg in segments]
        out.update(shots[0])
        if out["framing"] is None:
            out["framing"] = _dynamic(head, lang)["framing"]
        out["shots"] = shots
    else:
        out.update(_dynamic(text, lang))
        out["shots"] = None
    return out
