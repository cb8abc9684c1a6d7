"""Camera motion from the background: column profiles aligned by scale and shift.

The ShapesWorld background varies along x only, so the mean grey of each column (subject
masked out) is a 1-D signal that pans shift and zooms scale about the frame centre. Averaging
a column also averages away pixel noise, so the estimate survives a noisy model output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TEXTURE = 1.5  # grey-level std below which a profile is too flat to align
MIN_OVERLAP = 0.4  # share of columns two profiles must share for a match to count


@dataclass(frozen=True)
class Alignment:
    """frame_b(u) ~ frame_a(c + (u - c) * scale + shift): scale < 1 is a zoom in, shift > 0 a
    pan to the right (in frame_a's pixels). score: correlation of the matched profiles."""

    scale: float
    shift: float
    score: float


def column_profile(frame: np.ndarray, subject: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(mean grey per column over background pixels, share of background rows per column)."""
    grey = frame.astype(np.float32).mean(-1)
    keep = np.ones(grey.shape, dtype=bool) if subject is None else ~subject
    n = keep.sum(0)
    prof = (grey * keep).sum(0) / np.maximum(n, 1)
    return prof, n / grey.shape[0]


def _scores(pa: np.ndarray, wa: np.ndarray, pb: np.ndarray, wb: np.ndarray,
            scales: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Weighted correlation for every (scale, shift): [S, D]."""
    w = len(pa)
    c = w / 2
    u = np.arange(w) + 0.5
    pos = c + (u[None, None, :] - c) * scales[:, None, None] + shifts[None, :, None]  # in frame a
    inside = (pos >= 0.5) & (pos <= w - 0.5)
    va = np.interp(pos, u, pa)
    # A column counts where both frames show enough background there (subject masked out).
    weight = np.minimum(np.interp(pos, u, wa), wb[None, None, :]) * inside
    weight = np.where(weight > 0.1, weight, 0.0)
    ok = (weight > 0).sum(-1) >= MIN_OVERLAP * w
    tot = np.maximum(weight.sum(-1), 1e-6)
    ma = (weight * va).sum(-1) / tot
    mb = (weight * pb[None, None, :]).sum(-1) / tot
    da, db = va - ma[..., None], pb[None, None, :] - mb[..., None]
    cov = (weight * da * db).sum(-1)
    var = np.sqrt((weight * da * da).sum(-1) * (weight * db * db).sum(-1))
    return np.where(ok & (var > 1e-6), cov / np.maximum(var, 1e-6), -1.0)


def texture(prof: np.ndarray, weight: np.ndarray) -> float:
    seen = prof[weight > 0.2]
    return float(seen.std()) if len(seen) > 2 else 0.0


def align(pa: np.ndarray, wa: np.ndarray, pb: np.ndarray, wb: np.ndarray,
          max_log_scale: float = 0.06, max_shift: float = 0.08) -> Alignment | None:
    """Best (scale, shift) taking profile a to profile b within a small window (consecutive
    frames: a wide search would let a sliver of overlap match anything), coarse grid then a
    fine one. None when either profile is too flat to follow."""
    if texture(pa, wa) < MIN_TEXTURE or texture(pb, wb) < MIN_TEXTURE:
        return None
    w = len(pa)
    scales = np.exp(np.linspace(-max_log_scale, max_log_scale, 1 + 2 * round(max_log_scale / 0.01)))
    shifts = np.arange(-max_shift * w, max_shift * w + 1e-6, 0.25)
    sc = _scores(pa, wa, pb, wb, scales, shifts)
    i, j = np.unravel_index(int(np.argmax(sc)), sc.shape)
    fine_s = scales[i] * np.exp(np.linspace(-0.006, 0.006, 7))
    fine_d = shifts[j] + np.linspace(-0.15, 0.15, 7)
    sc2 = _scores(pa, wa, pb, wb, fine_s, fine_d)
    k, m = np.unravel_index(int(np.argmax(sc2)), sc2.shape)
    if sc2[k, m] <= -1.0:  # no candidate kept enough columns in view: cannot tell
        return None
    return Alignment(float(fine_s[k]), float(fine_d[m]), float(sc2[k, m]))


def compose(first: Alignment, then: Alignment) -> Alignment:
    """a->b followed by b->c gives a->c: c(u) ~ a(c0 + ((u - c0) s2 + d2) s1 + d1)."""
    return Alignment(first.scale * then.scale, then.shift * first.scale + first.shift,
                     min(first.score, then.score))


def track(steps: list[Alignment | None]) -> list[Alignment] | None:
    """Camera path from consecutive-frame steps: element t takes frame 0 to frame t (element 0
    is the identity). None when some step could not be aligned."""
    path = [Alignment(1.0, 0.0, 1.0)]
    for step in steps:
        if step is None:
            return None
        path.append(compose(path[-1], step))
    return path
