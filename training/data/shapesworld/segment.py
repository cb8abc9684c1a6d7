"""Per-frame subject measurement from pixels (the analyzer's eyes).

ShapesWorld backgrounds are neutral and subjects saturated, so chroma (max - min over RGB)
separates them. Chroma of a subject/background mix is linear in the mix (the neutral part adds
equally to every channel), so normalised chroma is the subject's coverage: areas and extents
come out with sub-pixel accuracy and survive blur, which moves coverage around but keeps its sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import COLORS

MIN_CHROMA = 60.0  # a pixel this saturated (after 3x3 smoothing) can belong to the subject
MIN_AREA = 4.0  # subject pixels (coverage sum) below which nothing was found
# Plausibility: ShapesWorld backgrounds are neutral and the largest subject (a zoomed large
# close-up) covers about half the frame. Past these limits (pure noise, a colourful scene) the
# chroma segmentation means nothing, so the frame reports no subject rather than a wrong one.
MAX_BACKGROUND_CHROMA = 40.0
MAX_AREA_SHARE = 0.7
_PALETTE = np.array(list(COLORS.values()), dtype=np.float32)
_NAMES = list(COLORS)


@dataclass(frozen=True)
class FrameMeasure:
    found: bool
    area: float = 0.0  # coverage sum, px
    cx: float = 0.0  # coverage centroid, px (pixel centres at +0.5)
    cy: float = 0.0
    width: float = 0.0  # soft bounding-box extents, px
    height: float = 0.0
    fill: float = 0.0  # area / (width * height): circle 0.79, square 1, triangle 0.5, star 0.35
    bottom: float = 0.5  # share of the area below the box's middle: triangle 0.75, others ~0.5
    # Angular harmonics 3, 4, 5 of the mass around the centroid (weights coverage * r^2, so the
    # rim counts most), each in [0, 1]: a triangle rings at 3, a square at 4, a star at 5 and a
    # circle at none. Rotation-free, scale-free, and an isotropic blur only damps them.
    harmonics: tuple[float, float, float] = (0.0, 0.0, 0.0)
    color: str = "unknown"
    rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)
    mask: np.ndarray | None = None  # bool [H, W]: the subject and its anti-aliased rim


def box3(a: np.ndarray) -> np.ndarray:
    """3x3 mean with edge replication, over the last two axes."""
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    rows = p[..., :-2, :] + p[..., 1:-1, :] + p[..., 2:, :]
    return (rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]) / 9.0


def dilate(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= m[:, :-1]
    out[:, :-1] |= m[:, 1:]
    return out


def erode(m: np.ndarray) -> np.ndarray:
    return ~dilate(~m)


def grow(seed: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The connected part of `allowed` that contains `seed` (4-neighbour flood fill)."""
    region = seed & allowed
    while True:
        nxt = dilate(region) & allowed
        if nxt.sum() == region.sum():
            return nxt
        region = nxt


def nearest_color(rgb: np.ndarray) -> str:
    return _NAMES[int(np.argmin(((_PALETTE - rgb) ** 2).sum(-1)))]


def chroma(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(np.float32)
    return f.max(-1) - f.min(-1)


def measure(frame: np.ndarray, chroma_map: np.ndarray | None = None) -> FrameMeasure:
    """Find the most saturated blob in one uint8 [H, W, 3] frame and measure it."""
    c = chroma(frame) if chroma_map is None else chroma_map
    smooth = box3(c)
    candidate = smooth > MIN_CHROMA
    if not candidate.any():
        return FrameMeasure(False)
    seed = np.zeros_like(candidate)
    seed[np.unravel_index(int(np.argmax(np.where(candidate, smooth, -1))), c.shape)] = True
    blob = grow(seed, candidate)
    core = erode(blob)
    if core.sum() < 2:
        core = blob
    subject_chroma = float(np.median(c[core]))
    support = dilate(dilate(blob))
    if support.mean() > MAX_AREA_SHARE:
        return FrameMeasure(False)
    floor = float(np.median(c[~support]))
    if floor > MAX_BACKGROUND_CHROMA or subject_chroma - floor < MIN_CHROMA / 2:
        return FrameMeasure(False)
    # Coverage: 0 on the background's chroma level, 1 on the subject's. Kept above 1 inside
    # (noise there is symmetric) so the area stays unbiased; clipped to 1 for the extents.
    alpha = np.where(support, np.clip((c - floor) / (subject_chroma - floor), 0.0, 1.5), 0.0)
    area = float(alpha.sum())
    if area < MIN_AREA:
        return FrameMeasure(False)
    h, w = c.shape
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    cx = float((alpha.sum(0) * xs).sum() / area)
    cy = float((alpha.sum(1) * ys).sum() / area)
    cap = np.minimum(alpha, 1.0)
    cols, rows = cap.max(0), cap.max(1)
    width, height = float(cols.sum()), float(rows.sum())
    box_mid = float((rows * ys).sum() / max(rows.sum(), 1e-6))
    # Area below the box middle, splitting the row that holds the middle.
    below = np.clip(ys + 0.5 - box_mid, 0.0, 1.0)
    bottom = float((alpha.sum(1) * below).sum() / area)
    rgb = np.median(frame[core].astype(np.float32), axis=0)
    dx, dy = xs[None, :] - cx, ys[:, None] - cy
    weight = alpha * (dx * dx + dy * dy)
    angle = np.arctan2(dy, dx)
    total = max(float(weight.sum()), 1e-6)
    harmonics = tuple(float(abs((weight * np.exp(1j * k * angle)).sum()) / total) for k in (3, 4, 5))
    return FrameMeasure(
        True, area, cx, cy, width, height, area / max(width * height, 1e-6), bottom, harmonics,
        nearest_color(rgb), (float(rgb[0]), float(rgb[1]), float(rgb[2])), support,
    )


# Measured on renders: circles stay below 0.06 on every harmonic (clean, blurred, noisy);
# the shape's own harmonic stays above 0.2 (square), 0.4 (triangle), 0.28 (small blurred star).
HARMONIC_MIN = 0.15
_BY_HARMONIC = ("triangle", "square", "star")


def classify_shape(m: FrameMeasure) -> str:
    """The shape whose angular harmonic rings loudest; a circle when none rings."""
    k = int(np.argmax(m.harmonics))
    return _BY_HARMONIC[k] if m.harmonics[k] > HARMONIC_MIN else "circle"


def measure_frames(frames: np.ndarray) -> list[FrameMeasure]:
    c = chroma(frames)
    return [measure(frames[t], c[t]) for t in range(len(frames))]
