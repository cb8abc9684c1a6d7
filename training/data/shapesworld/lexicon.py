"""The words of ShapesWorld in English and Chinese, one table per spec field.

Captions, prompts and the parser all read these tables, so whatever the generator writes the
parser can read back. Chinese is written directly from the spec (never machine-translated).
"""

from __future__ import annotations

COLOR_WORDS: dict[str, dict[str, str]] = {
    "en": {c: c for c in ("red", "green", "blue", "yellow", "purple", "orange")},
    "zh": {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色", "orange": "橙色"},
}
SHAPE_WORDS: dict[str, dict[str, str]] = {
    "en": {s: s for s in ("circle", "square", "triangle", "star")},
    "zh": {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形"},
}
SIZE_WORDS: dict[str, dict[str, str]] = {
    "en": {"small": "small", "large": "large"},
    "zh": {"small": "小的", "large": "大的"},
}
BACKGROUND_WORDS: dict[str, dict[str, str]] = {
    "en": {b: b for b in ("black", "dark grey", "light grey", "white")},
    "zh": {"black": "黑色", "dark grey": "深灰色", "light grey": "浅灰色", "white": "白色"},
}
# A sentence of its own that opens each shot's caption.
FRAMING_SENTENCE: dict[str, dict[str, str]] = {
    "en": {"wide": "Wide shot.", "close": "Close-up."},
    "zh": {"wide": "远景。", "close": "特写。"},
}
# Short framing labels for multi-shot markers and prompts.
FRAMING_LABEL: dict[str, dict[str, str]] = {
    "en": {"wide": "wide shot", "close": "close-up"},
    "zh": {"wide": "远景", "close": "特写"},
}
SPEED_ADVERB: dict[str, dict[str, str]] = {
    "en": {"slow": "slowly", "fast": "quickly"},
    "zh": {"slow": "缓慢", "fast": "快速"},
}
# The camera sentence; "fixed" matches the rewriter's CAMERA_FIXED sentence word for word.
CAMERA_SENTENCE: dict[str, dict[str, str]] = {
    "en": {
        "fixed": "The camera is fixed.",
        "pan_left": "The camera pans to the left.",
        "pan_right": "The camera pans to the right.",
        "zoom_in": "The camera zooms in.",
        "zoom_out": "The camera zooms out.",
    },
    "zh": {
        "fixed": "镜头固定。",
        "pan_left": "镜头向左平移。",
        "pan_right": "镜头向右平移。",
        "zoom_in": "镜头推近。",
        "zoom_out": "镜头拉远。",
    },
}
# Short camera phrases for prompts ("camera pans left", "镜头推近").
CAMERA_SHORT: dict[str, dict[str, str]] = {
    "en": {
        "fixed": "camera fixed",
        "pan_left": "camera pans left",
        "pan_right": "camera pans right",
        "zoom_in": "camera zooms in",
        "zoom_out": "camera zooms out",
    },
    "zh": {k: v.rstrip("。") for k, v in CAMERA_SENTENCE["zh"].items()},
}

# English verb phrases: {adv} is the speed adverb. Singular and plural verb forms.
_EN_MOTION: dict[str, tuple[str, str]] = {
    "left": ("moves {adv} to the left", "move {adv} to the left"),
    "right": ("moves {adv} to the right", "move {adv} to the right"),
    "up": ("moves {adv} upward", "move {adv} upward"),
    "down": ("moves {adv} downward", "move {adv} downward"),
    "static": ("stays still", "stay still"),
    "bounce": ("bounces up and down {adv}", "bounce up and down {adv}"),
}
# Gerund phrases for prompts ("a red circle moving right").
EN_GERUND: dict[str, str] = {
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "static": "standing still",
    "bounce": "bouncing up and down",
}
_ZH_MOTION: dict[str, str] = {
    "left": "{adv}向左移动",
    "right": "{adv}向右移动",
    "up": "{adv}向上移动",
    "down": "{adv}向下移动",
    "static": "静止不动",
    "bounce": "{adv}上下弹跳",
}


def motion_phrase(direction: str, speed: str | None, lang: str, plural: bool = False) -> str:
    """"moves slowly to the right" / "缓慢向右移动"; speed None leaves the adverb out."""
    adv = SPEED_ADVERB[lang][speed] if speed else ""
    if lang == "en":
        phrase = _EN_MOTION[direction][1 if plural else 0]
        return " ".join(phrase.format(adv=adv).split())
    return _ZH_MOTION[direction].format(adv=adv)


def noun_phrase(color: str, shape: str, size: str | None, lang: str, count: int = 1) -> str:
    """"a large red circle" / "two large red circles" / "一个大的红色圆形"."""
    if lang == "en":
        words = [*([SIZE_WORDS["en"][size]] if size else []), color, shape + ("s" if count > 1 else "")]
        article = "two" if count > 1 else ("an" if words[0][0] in "aeiou" else "a")
        return " ".join([article, *words])
    return ("两个" if count > 1 else "一个") + (SIZE_WORDS["zh"][size] if size else "") + (
        COLOR_WORDS["zh"][color] + SHAPE_WORDS["zh"][shape]
    )
