"""ShapesWorld analyzer: subject colour, shape, size and motion, and the camera, from pixels.

This is how ShapeBench scores a generated video against its prompt. It sees only frames
(uint8 [T, H, W, 3]); anything it cannot measure comes back as "unknown", never an error.
Motion is judged in the world: the camera's pan/zoom (from the background) is taken out of
the subject's screen track first, so "moves right while the camera pans right" is still right.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .camera import Alignment, track
from .features import VideoFeatures, check_frames, video_features
from .segment import classify_shape, nearest_color
from .shots import detect_shots
from .spec import (
    BACKGROUNDS,
    BOUNCE_HEIGHT,
    FRAMING_ZOOM,
    PAN_PER_S,
    SPEED_PER_S,
    SUBJECT_RADIUS,
    ZOOM_PER_S,
)

UNKNOWN = "unknown"
STATIC_BELOW = 0.4 * SPEED_PER_S["slow"]  # frame widths per second
FAST_ABOVE = float(np.sqrt(SPEED_PER_S["slow"] * SPEED_PER_S["fast"]))
BOUNCE_ABOVE = 0.1  # extra vertical travel (up and back), frame widths per second
BOUNCE_FAST_ABOVE = 2 * BOUNCE_HEIGHT * float(np.sqrt(2.0))  # travel rate between 1 and 2 hops/s
# Measured box half-side / true half-side: thin star tips and triangle apexes lose coverage.
EXTENT_FACTOR = {"circle": 1.0, "square": 1.02, "triangle": 0.97, "star": 0.93, UNKNOWN: 1.0}


@dataclass(frozen=True)
class ShotAnalysis:
    start: int
    end: int  # exclusive
    found: bool
    color: str = UNKNOWN
    shape: str = UNKNOWN
    size: str = UNKNOWN
    framing: str = UNKNOWN
    direction: str = UNKNOWN  # left/right/up/down/static/bounce
    speed: str = UNKNOWN  # slow/fast ("unknown" when static)
    camera: str = UNKNOWN  # fixed/pan_left/pan_right/zoom_in/zoom_out
    background: str = UNKNOWN
    radius: float = 0.0  # subject box half-side / frame width, at the shot's first-frame zoom
    velocity: tuple[float, float] = (0.0, 0.0)  # world motion, frame widths per second (y down)


@dataclass(frozen=True)
class ClipAnalysis:
    shots: list[ShotAnalysis]

    def to_dict(self) -> dict[str, Any]:
        return {"shots": [asdict(s) for s in self.shots], "consistency": subject_consistency(self)}


def _size_class(radius: float, framing: str | None) -> tuple[str, str]:
    """Nearest (framing, size) on a log scale; only the given framing's sizes when known."""
    options = [(f, s) for f in FRAMING_ZOOM for s in SUBJECT_RADIUS if framing in (None, f)]
    return min(options, key=lambda fs: abs(np.log(radius / (SUBJECT_RADIUS[fs[1]] * FRAMING_ZOOM[fs[0]]))))


def _camera_name(total: Alignment, duration: float, width: int) -> str:
    zoom_rate = -np.log(total.scale) / duration
    pan_rate = total.shift / width / duration
    if abs(zoom_rate) > ZOOM_PER_S / 2:
        return "zoom_in" if zoom_rate > 0 else "zoom_out"
    if abs(pan_rate) > PAN_PER_S / 2:
        return "pan_right" if pan_rate > 0 else "pan_left"
    return "fixed"


def _motion(t: np.ndarray, x: np.ndarray, y: np.ndarray, fps: float, width: int
            ) -> tuple[str, str, tuple[float, float]]:
    """Direction and speed from a world track (frame-0 pixels) sampled at frames t."""
    duration = (t[-1] - t[0]) / fps
    if len(t) < 2 or duration <= 0:
        return UNKNOWN, UNKNOWN, (0.0, 0.0)
    vx, vy = (float(np.polyfit(t / fps, v / width, 1)[0]) for v in (x, y))
    travel = float(np.abs(np.diff(y)).sum()) / width / duration
    net = abs(float(y[-1] - y[0])) / width / duration
    rise = float(np.ptp(y)) / width
    if travel - net > BOUNCE_ABOVE and rise > BOUNCE_HEIGHT / 3 and abs(vx) < STATIC_BELOW:
        return "bounce", "fast" if travel > BOUNCE_FAST_ABOVE else "slow", (vx, vy)
    speed = float(np.hypot(vx, vy))
    if speed < STATIC_BELOW:
        return "static", UNKNOWN, (vx, vy)
    direction = ("right" if vx > 0 else "left") if abs(vx) >= abs(vy) else ("down" if vy > 0 else "up")
    return direction, "fast" if speed > FAST_ABOVE else "slow", (vx, vy)


def _majority(values: list[str]) -> str:
    return Counter(values).most_common(1)[0][0] if values else UNKNOWN


def _background(feat: VideoFeatures, start: int, end: int) -> str:
    seen = [p[w > 0.2] for p, w in feat.profiles[start:end] if (w > 0.2).any()]
    if not seen:
        return UNKNOWN
    tone = float(np.median(np.concatenate(seen)))
    return min(BACKGROUNDS, key=lambda k: abs(BACKGROUNDS[k] - tone))


def _shot(feat: VideoFeatures, start: int, end: int, fps: float, framing: str | None) -> ShotAnalysis:
    ms = feat.measures[start:end]
    idx = [k for k, m in enumerate(ms) if m.found]
    background = _background(feat, start, end)
    if len(idx) < max(1, len(ms) // 2):
        return ShotAnalysis(start, end, False, background=background)
    w, h = feat.width, feat.height
    path = track(feat.steps[start:end - 1])
    if path is None or len(ms) < 2:  # no texture to follow (or one frame): screen = world
        camera, path = UNKNOWN, [Alignment(1.0, 0.0, 0.0)] * len(ms)
    else:
        camera = _camera_name(path[-1], (len(ms) - 1) / fps, w)
    # World positions in frame-0 pixels: undo each frame's zoom (about the centre) and pan.
    t = np.array(idx, dtype=np.float64)
    x = np.array([w / 2 + (ms[k].cx - w / 2) * path[k].scale + path[k].shift for k in idx])
    y = np.array([h / 2 + (ms[k].cy - h / 2) * path[k].scale for k in idx])
    direction, speed, velocity = _motion(t, x, y, fps, w)
    color = nearest_color(np.median(np.array([ms[k].rgb for k in idx]), axis=0))
    shape = _majority([classify_shape(ms[k]) for k in idx])
    extents = [max(ms[k].width, ms[k].height) / 2 * path[k].scale for k in idx]
    radius = float(np.median(extents)) / EXTENT_FACTOR[shape] / w
    framing_out, size = _size_class(max(radius, 1e-3), framing)
    return ShotAnalysis(start, end, True, color, shape, size, framing_out, direction, speed, camera,
                        background, radius, velocity)


def analyze(frames: np.ndarray, fps: float = 8, shots: list[tuple[int, int]] | None = None,
            framings: list[str] | None = None) -> ClipAnalysis:
    """Analyse a video shot by shot. `shots` ([(start, end)], end exclusive) defaults to
    detect_shots; `framings` (one per shot) narrows the size decision to that framing."""
    feat = video_features(check_frames(frames))
    shots = detect_shots(feat) if shots is None else shots
    if framings is not None and len(framings) != len(shots):
        raise ValueError(f"framings: {len(framings)} given for {len(shots)} shots")
    return ClipAnalysis([
        _shot(feat, a, b, fps, None if framings is None else framings[i]) for i, (a, b) in enumerate(shots)
    ])


def analyze_shot(frames: np.ndarray, fps: float = 8, framing: str | None = None) -> ShotAnalysis:
    """Analyse frames known to be one shot."""
    frames = check_frames(frames)
    return _shot(video_features(frames), 0, len(frames), fps, framing)


def subject_consistency(analysis: ClipAnalysis) -> float:
    """Share of shots showing the clip's majority (colour, shape): 1.0 means the same subject
    throughout; a shot where nothing was found counts against it; 0.0 if nothing anywhere."""
    seen = [(s.color, s.shape) for s in analysis.shots if s.found]
    if not seen:
        return 0.0
    _, n = Counter(seen).most_common(1)[0]
    return n / len(analysis.shots)
