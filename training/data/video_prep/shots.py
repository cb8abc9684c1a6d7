"""Content-based shot-boundary detection for any video (not only ShapesWorld).

Each frame is reduced to a 32x32 RGB thumbnail (decode.py). Two changes are measured between
consecutive frames, both in [0, 1]:
  * pixel change: the mean absolute thumbnail difference after the best global shift of up to
    `shift` pixels. The shift absorbs pans and small camera shake, so inside a shot the value
    stays near the compression noise, while a cut between two views of the same scene (same
    colours, which a histogram cannot tell apart) still changes most pixels;
  * colour change: half the L1 distance between per-channel 16-bin colour histograms, blind to
    motion, so it catches cuts inside shots whose pixels all move anyway (a handheld chase).
Each change is tested against its neighbourhood: frame t starts a new shot when its change is
at least `ratio` times the median change of the `window` frames on either side (and above an
absolute minimum). That makes the threshold adaptive: fast motion raises every frame's change,
so no single frame stands out; a cut is one frame that does. The median, not the mean, keeps a
second cut nearby from hiding the first. Candidates closer than `min_shot_frames` compete and
the strongest wins (non-maximum suppression), so a shot is never shorter than that.

Tuned on 14 concatenations of ShapesWorld clips (266 cuts, many of them wide <-> close cuts
inside one scene, 5,500 non-cut frames): no miss and no false cut at ratio 3.5, though the
weakest cut stood at only 3.57x its neighbourhood. Checked on 20 more concatenations not used
for tuning (373 cuts): every cut found, none invented. Known limit: gradual transitions (fades,
dissolves) spread their change over many frames and are not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

BINS = 16


@dataclass(frozen=True)
class ShotDetector:
    ratio: float = 3.5  # a cut's change over the median change of its neighbours
    min_pixel: float = 0.012  # absolute minimum pixel change (3 grey levels on average)
    min_colour: float = 0.2  # absolute minimum colour-histogram change
    window: int = 4  # neighbours on each side
    min_shot_frames: int = 4
    shift: int = 2  # thumbnail pixels of global motion compensated (6% of the frame)
    # Neighbour medians below these are raised to them: on a perfectly still shot any tiny
    # change would otherwise be infinitely many times its neighbourhood.
    pixel_floor: float = 0.004
    colour_floor: float = 0.01

    def strengths(self, thumbs: np.ndarray) -> np.ndarray:
        """float32 [T]: how far each frame passes the cut test (>= 1 passes; 0 for frame 0)."""
        pixel, colour = changes(thumbs, self.shift)
        out = np.zeros(len(pixel), np.float32)
        for t in range(1, len(pixel)):
            rp = _relative(pixel, t, self.window, self.pixel_floor)
            rc = _relative(colour, t, self.window, self.colour_floor)
            passes = [r / self.ratio for r, v, m in ((rp, pixel[t], self.min_pixel), (rc, colour[t], self.min_colour))
                      if v >= m]
            out[t] = max(passes, default=0.0)
        return out

    def cuts(self, strengths: np.ndarray) -> list[int]:
        """Frames that start a new shot (never 0), ascending."""
        n, m = len(strengths), self.min_shot_frames
        kept: list[int] = []
        for t in sorted(np.nonzero(strengths >= 1.0)[0].tolist(), key=lambda t: (-strengths[t], t)):
            if t >= m and n - t >= m and all(abs(t - k) >= m for k in kept):
                kept.append(t)
        return sorted(kept)

    def detect(self, thumbs: np.ndarray) -> list[tuple[int, int]]:
        """[(start, end)] shot ranges, end exclusive, covering every frame."""
        return shots_from_cuts(self.cuts(self.strengths(thumbs)), len(thumbs))


def _relative(values: np.ndarray, t: int, window: int, floor: float) -> float:
    lo, hi = max(1, t - window), min(len(values), t + window + 1)
    neighbours = np.concatenate([values[lo:t], values[t + 1:hi]])
    base = float(np.median(neighbours)) if len(neighbours) else 0.0
    return float(values[t]) / max(base, floor)


def histograms(thumbs: np.ndarray) -> np.ndarray:
    """float32 [T, 3, BINS]: per-channel colour histograms, each summing to 1. Binning is soft
    (a pixel splits its weight between the two nearest bin centres): with hard bins a flat
    region whose value sits on a bin edge flips bins on every frame of compression noise."""
    t = len(thumbs)
    pos = thumbs.reshape(t, -1, 3).astype(np.float32) * (BINS / 256.0) - 0.5  # in bin-centre units
    lo = np.floor(pos)
    frac = pos - lo
    lo_i = np.clip(lo, 0, BINS - 1).astype(np.int64)
    hi_i = np.clip(lo + 1, 0, BINS - 1).astype(np.int64)
    offset = np.arange(t)[:, None] * BINS  # one bincount for all frames: frames use disjoint bins
    out = np.zeros((t, 3, BINS), np.float32)
    for c in range(3):
        counts = np.bincount((lo_i[:, :, c] + offset).ravel(), (1 - frac[:, :, c]).ravel(), t * BINS)
        counts += np.bincount((hi_i[:, :, c] + offset).ravel(), frac[:, :, c].ravel(), t * BINS)
        out[:, c] = counts.reshape(t, BINS)
    return out / pos.shape[1]


def shifted_difference(thumbs: np.ndarray, shift: int) -> np.ndarray:
    """float32 [T-1]: min over global shifts |dx|, |dy| <= shift of the mean |frame t - frame t-1|
    over the overlap, in [0, 1]."""
    x = thumbs.astype(np.float32)
    a, b = x[:-1], x[1:]
    h, w = x.shape[1:3]
    best = np.full(len(a), np.inf, np.float32)
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            pa = a[:, max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            pb = b[:, max(0, -dy):h + min(0, -dy), max(0, -dx):w + min(0, -dx)]
            best = np.minimum(best, np.abs(pa - pb).mean(axis=(1, 2, 3)))
    return best / 255.0


def changes(thumbs: np.ndarray, shift: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(pixel change, colour change), float32 [T] each, from frame t-1 to t (0 at frame 0)."""
    thumbs = np.asarray(thumbs)
    if thumbs.ndim != 4 or thumbs.shape[-1] != 3:
        raise ValueError(f"thumbnails must be [T, H, W, 3], got {thumbs.shape}")
    pixel = np.zeros(len(thumbs), np.float32)
    colour = np.zeros(len(thumbs), np.float32)
    if len(thumbs) >= 2:
        pixel[1:] = shifted_difference(thumbs, shift)
        colour[1:] = 0.5 * np.abs(np.diff(histograms(thumbs), axis=0)).sum(-1).mean(-1)
    return pixel, colour


def shots_from_cuts(cuts: list[int], frames: int) -> list[tuple[int, int]]:
    return list(pairwise([0, *cuts, frames]))


def detect_shots(frames: np.ndarray, detector: ShotDetector | None = None) -> list[tuple[int, int]]:
    """Shot ranges of uint8 [T, H, W, 3] frames of any size (thumbnailed here)."""
    from .decode import signatures_of

    return (detector or ShotDetector()).detect(signatures_of(np.asarray(frames), 1.0).thumbs)
