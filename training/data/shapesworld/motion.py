"""Where things are: camera and subject paths for each shot, in screen pixels.

World coordinates are pixels of a wide shot (zoom 1). A camera sits at offset `o` (world x of
the view centre) with zoom `z`; a world point `w` lands at screen `(w - o) * z + centre`.
Subject motion and camera pans are defined in screen units of the shot's framing, so a
"slow" subject crosses the same share of the frame in a wide shot and in a close-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .spec import (
    BOUNCE_HEIGHT,
    BOUNCE_HZ,
    EDGE_MARGIN,
    FRAMING_ZOOM,
    PAN_PER_S,
    SPEED_PER_S,
    SUBJECT_RADIUS,
    ZOOM_PER_S,
    ClipSpec,
    Shot,
)


@dataclass(frozen=True)
class ShotPath:
    """Per-frame screen geometry of one shot (arrays of length shot.frames)."""

    x: np.ndarray  # subject centre, screen px
    y: np.ndarray
    radius: np.ndarray  # half the subject's box side, screen px
    zoom: np.ndarray  # camera zoom (framing x zoom move)
    offset: np.ndarray  # camera offset: world x at the view centre
    fits: bool  # whether the whole path stays inside the frame


def _camera(shot: Shot, times: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(zoom, offset - offset0) per frame."""
    base = FRAMING_ZOOM[shot.framing]
    rate = {"zoom_in": ZOOM_PER_S, "zoom_out": -ZOOM_PER_S}.get(shot.camera, 0.0)
    zoom = base * np.exp(rate * times)
    pan = {"pan_right": PAN_PER_S, "pan_left": -PAN_PER_S}.get(shot.camera, 0.0)
    return zoom, pan * width * times / base


def _displacement(shot: Shot, times: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Subject displacement from its start, in screen px of the shot's framing (y down)."""
    zeros = np.zeros_like(times)
    m = shot.motion
    if m.direction == "static":
        return zeros, zeros
    if m.direction == "bounce":
        # Hops off a floor: |sin| so the subject lands (touches its start height) between hops.
        hop = BOUNCE_HEIGHT * width * np.abs(np.sin(math.pi * BOUNCE_HZ[m.speed] * times))
        return zeros, -hop
    dist = SPEED_PER_S[m.speed] * width * times
    dx = {"left": -dist, "right": dist}.get(m.direction, zeros)
    dy = {"up": -dist, "down": dist}.get(m.direction, zeros)
    return dx, dy


def _start_interval(rel: np.ndarray, zoom: np.ndarray, radius: np.ndarray, size: int, margin: float
                    ) -> tuple[float, float]:
    """Interval of start positions q (world, relative to the camera) that keeps
    (q + rel) * zoom + centre inside [margin + radius, size - margin - radius] at every frame."""
    centre = size / 2
    lo = (margin + radius - centre) / zoom - rel
    hi = (size - margin - radius - centre) / zoom - rel
    return float(lo.max()), float(hi.min())


def shot_path(spec: ClipSpec, index: int) -> ShotPath:
    """The geometry of shot `index`; its free start position is drawn from spec.seed."""
    shot, w, h = spec.shots[index], spec.width, spec.height
    times = np.arange(shot.frames, dtype=np.float64) / spec.fps
    zoom, pan = _camera(shot, times, w)
    base = FRAMING_ZOOM[shot.framing]
    dx, dy = _displacement(shot, times, w)
    radius = SUBJECT_RADIUS[spec.subject.size] * w * zoom
    margin = EDGE_MARGIN * w
    # World displacement relative to the moving camera: subject motion minus camera pan.
    rel_x, rel_y = dx / base - pan, dy / base
    rng = np.random.default_rng([spec.seed, index, 7])
    fits = True
    starts = []
    for rel, size in ((rel_x, w), (rel_y, h)):
        lo, hi = _start_interval(rel, zoom, radius, size, margin)
        if lo > hi:  # cannot fit: centre the violation so the subject stays mostly in frame
            fits = False
            lo = hi = (lo + hi) / 2
        starts.append(rng.uniform(lo, hi))
    offset0 = rng.uniform(-10.0, 10.0) * w  # which stretch of the background the shot sees
    x = (starts[0] + rel_x) * zoom + w / 2
    y = (starts[1] + rel_y) * zoom + h / 2
    return ShotPath(x, y, radius, zoom, offset0 + pan, fits)


def clip_paths(spec: ClipSpec) -> list[ShotPath]:
    return [shot_path(spec, k) for k in range(len(spec.shots))]


def fits_in_frame(spec: ClipSpec) -> bool:
    """True when the subject stays fully inside the frame in every shot."""
    return all(p.fits for p in clip_paths(spec))
