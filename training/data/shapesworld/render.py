"""Pixels: a ClipSpec -> uint8 video [T, H, W, 3], deterministic for a given spec.

The background is a neutral tone with soft, aperiodic vertical stripes (a function of world x
only), so pans and zooms are visible and the analyzer can measure them from column profiles.
The subject is one flat, saturated, anti-aliased shape (PIL at 4x, box-downsampled).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .motion import ShotPath, clip_paths, shot_path
from .spec import BACKGROUNDS, COLORS, ClipSpec

SUPERSAMPLE = 4
STRIPE_AMPLITUDE = 12.0  # grey levels either side of the tone: visible, still neutral
STRIPE_PERIODS = (0.37, 0.23)  # frame widths; incommensurate, so the pattern never repeats nearby

# Unit-box polygons (every shape spans [-1, 1] on its longer axis, y down, centred box), so the
# subject's bounding box is 2r x 2r whatever its shape: the analyzer reads size from it.
_R_STAR = 1 / math.sin(math.radians(72))  # outer radius giving width 2
_STAR_INNER = 0.42
_STAR_DY = (_R_STAR - _R_STAR * math.cos(math.radians(36))) / 2  # centres the star's box


def _star() -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        ang = math.radians(-90 + 36 * k)
        rad = _R_STAR if k % 2 == 0 else _R_STAR * _STAR_INNER
        pts.append((rad * math.cos(ang), rad * math.sin(ang) + _STAR_DY))
    return pts


POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
    "triangle": [(0, -0.9), (1, 0.9), (-1, 0.9)],
    "star": _star(),
}


def background_texture(world_x: np.ndarray, width: int, seed: int) -> np.ndarray:
    """Stripe offset (grey levels) at world x (px of a wide shot). Phases come from the seed,
    shared by all shots of a clip: it is one scene."""
    ph = np.random.default_rng([seed, 101]).uniform(0, 2 * math.pi, size=2)
    a = np.sin(2 * math.pi * world_x / (STRIPE_PERIODS[0] * width) + ph[0])
    b = np.sin(2 * math.pi * world_x / (STRIPE_PERIODS[1] * width) + ph[1])
    return STRIPE_AMPLITUDE * np.tanh(2.5 * (a + 0.7 * b))  # tanh: soft two-tone stripes


def _background_rows(spec: ClipSpec, path: ShotPath) -> np.ndarray:
    """[T, W] grey level of each column (the texture has no vertical variation)."""
    w = spec.width
    sub = (np.arange(w * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - w / 2  # screen x from the centre
    world = sub[None, :] / path.zoom[:, None] + path.offset[:, None]
    tex = background_texture(world, w, spec.seed).reshape(len(path.zoom), w, SUPERSAMPLE).mean(-1)
    return BACKGROUNDS[spec.background.tone] + tex


def subject_alpha(shape: str, x: float, y: float, radius: float, width: int, height: int) -> np.ndarray:
    """Coverage in [0, 1], float32 [H, W], of a shape centred at (x, y) with half-box `radius`."""
    s = SUPERSAMPLE
    img = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse([(x - radius) * s, (y - radius) * s, (x + radius) * s - 1, (y + radius) * s - 1], fill=255)
    else:
        pts = [((x + px * radius) * s, (y + py * radius) * s) for px, py in POLYGONS[shape]]
        draw.polygon(pts, fill=255)
    small = img.resize((width, height), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _render_shot(spec: ClipSpec, path: ShotPath, count: int | None = None) -> np.ndarray:
    n = len(path.x) if count is None else count
    rows = _background_rows(spec, path)[:n]
    color = np.asarray(COLORS[spec.subject.color], dtype=np.float32)
    out = np.empty((n, spec.height, spec.width, 3), dtype=np.uint8)
    for t in range(n):
        alpha = subject_alpha(spec.subject.shape, path.x[t], path.y[t], path.radius[t], spec.width, spec.height)
        bg = np.broadcast_to(rows[t][None, :, None], (spec.height, spec.width, 3))
        frame = bg + alpha[..., None] * (color - bg)
        out[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return out


def render(spec: ClipSpec) -> np.ndarray:
    """Every frame of the clip: uint8 [T, H, W, 3], shots back to back."""
    return np.concatenate([_render_shot(spec, p) for p in clip_paths(spec)])


def first_frame(spec: ClipSpec) -> np.ndarray:
    """Frame 0 as uint8 [H, W, 3]: the conditioning image for I2V."""
    return _render_shot(spec, shot_path(spec, 0), count=1)[0]


def subject_track(spec: ClipSpec) -> np.ndarray:
    """Ground truth per frame, float [T, 3]: subject centre x, y and half-box radius (px)."""
    paths = clip_paths(spec)
    return np.concatenate([np.stack([p.x, p.y, p.radius], axis=1) for p in paths])
