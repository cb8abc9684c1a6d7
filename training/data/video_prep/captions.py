"""Captions for cut clips: a sidecar file per source video, or a pluggable captioner.

Sidecar (applied to every clip of its source video): beside `clip.mp4`, the first of
`clip.json`, `clip.mp4.json`, `clip.txt`, `clip.mp4.txt` that exists. A .txt sidecar is the
caption text (language not stated). A .json sidecar is {"caption": "...", "captions": {"en":
"...", "zh": "..."}, "i2v_captions": {...}}: "caption" or "captions" is required; when
"caption" is absent the English (else the first) per-language caption is used.

Captioner: any picklable callable ClipFrames -> Caption | None (None: cannot caption this
clip, which is then rejected). It runs only on clips that survived the static and duplicate
filters, since a real captioner (a VLM) is the expensive step. `ShapesWorldCaptioner` is the
deterministic one shipped here: the ShapesWorld analyzer measures subject, background, motion
and camera from pixels, and the ShapesWorld caption functions write them in its vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from seedance.errors import SeedanceError


class CaptionError(SeedanceError):
    """A sidecar that cannot be read as a caption."""


@dataclass(frozen=True)
class Caption:
    text: str
    captions: dict[str, str] = field(default_factory=dict)  # language -> caption
    i2v: dict[str, str] = field(default_factory=dict)  # language -> motion-only caption (I2V)
    origin: str = ""  # "sidecar:NAME" or "captioner:NAME"

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"caption": self.text, "captions": dict(self.captions), "caption_origin": self.origin}
        if self.i2v:
            row["i2v_captions"] = dict(self.i2v)
        return row

    @staticmethod
    def from_row(row: dict[str, Any]) -> Caption:
        return Caption(row["caption"], row.get("captions", {}), row.get("i2v_captions", {}),
                       row.get("caption_origin", ""))


@dataclass(frozen=True)
class ClipFrames:
    """What a captioner sees: the clip's frames (uint8 [T, H, W, 3]) and where they came from."""

    source: str
    start: int
    end: int
    fps: float
    frames: np.ndarray


class Captioner(Protocol):
    name: str

    def __call__(self, clip: ClipFrames) -> Caption | None: ...


def _texts(value: Any, what: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                              for k, v in value.items()):
        raise CaptionError(f"{where}: {what!r} must map language codes to non-empty strings")
    return {k: v.strip() for k, v in value.items()}


def parse_sidecar(text: str, where: str) -> Caption:
    """A sidecar's content -> Caption; `where` (its name) decides the format and names errors."""
    origin = f"sidecar:{where}"
    if not where.endswith(".json"):
        if not text.strip():
            raise CaptionError(f"{where}: empty caption")
        return Caption(text.strip(), origin=origin)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CaptionError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CaptionError(f"{where}: expected a JSON object with \"caption\" or \"captions\"")
    captions = _texts(data.get("captions"), "captions", where)
    i2v = _texts(data.get("i2v_captions"), "i2v_captions", where)
    caption = data.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise CaptionError(f"{where}: \"caption\" must be a string")
    caption = (caption or "").strip() or captions.get("en") or next(iter(captions.values()), "")
    if not caption:
        raise CaptionError(f"{where}: no caption (needs a non-empty \"caption\" or \"captions\")")
    return Caption(caption, captions, i2v, origin)


class ShapesWorldCaptioner:
    """Describes a one-shot ShapesWorld clip from its pixels, in English and Chinese."""

    name = "shapesworld"

    def __call__(self, clip: ClipFrames) -> Caption | None:
        from seedance.training.data.shapesworld import analyze_shot, clip_caption, i2v_caption
        from seedance.training.data.shapesworld.spec import Background, ClipSpec, Motion, Shot, Subject

        frames = clip.frames
        shot = analyze_shot(frames, fps=clip.fps)
        fields = (shot.color, shot.shape, shot.size, shot.framing, shot.direction, shot.camera, shot.background)
        if not shot.found or "unknown" in fields or len(frames) < 2:
            return None  # the analyzer could not measure everything a caption states
        static = shot.direction == "static"
        if not static and shot.speed == "unknown":
            return None
        h, w = frames.shape[1:3]
        spec = ClipSpec(Subject(shot.shape, shot.color, shot.size), Background(shot.background),
                        (Shot(shot.framing, Motion(shot.direction, "slow" if static else shot.speed),
                              shot.camera, len(frames)),),
                        fps=max(1, round(clip.fps)), width=w - w % 2, height=h - h % 2)
        captions = {lang: clip_caption(spec, lang) for lang in ("en", "zh")}
        i2v = {lang: i2v_caption(spec, lang) for lang in ("en", "zh")}
        return Caption(captions["en"], captions, i2v, f"captioner:{self.name}")


CAPTIONERS: dict[str, Callable[[], Captioner]] = {"shapesworld": ShapesWorldCaptioner}


def make_captioner(name: str | None) -> Captioner | None:
    if name is None:
        return None
    if name not in CAPTIONERS:
        raise CaptionError(f"captioner: unknown {name!r}; choose one of {', '.join(CAPTIONERS)}")
    return CAPTIONERS[name]()
