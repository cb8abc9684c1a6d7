"""Shot-boundary detection: where does one shot end and the next begin?

Used to analyse multi-shot clips and, in data preparation, to cut long videos at their shot
boundaries. Inside a shot everything changes a little per frame (the subject moves a pixel or
two, the background pans or zooms by a percent); a cut changes something a lot at once: the
subject's size (wide <-> close), colour or place, or the background (tone, or a profile that
no small pan/zoom can map onto the previous frame's).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from .camera import texture
from .features import VideoFeatures, check_frames, video_features

SIZE_JUMP = 1.4  # subject extent ratio between consecutive frames (a cut to close-up is 2x)
PLACE_JUMP = 0.2  # subject centroid jump, in frame widths
TONE_JUMP = 20.0  # background grey-level jump
MIN_MATCH = 0.8  # background profile correlation after the best small pan/zoom
# Only a clearly textured background (ShapesWorld stripes: std ~8 grey levels) is trusted to
# show a cut; a faint or noisy one (an imperfect model's output) would cut everywhere.
CUT_TEXTURE = 4.0


def _tone(profile: tuple[np.ndarray, np.ndarray]) -> float | None:
    prof, weight = profile
    seen = prof[weight > 0.2]
    return float(np.median(seen)) if len(seen) else None


def cut_reasons(feat: VideoFeatures, t: int) -> list[str]:
    """Why frame t starts a new shot (empty: it continues frame t - 1)."""
    a, b = feat.measures[t - 1], feat.measures[t]
    reasons = []
    if a.found != b.found:
        reasons.append("subject appears or disappears")
    elif a.found:
        ext_a, ext_b = max(a.width, a.height), max(b.width, b.height)
        if max(ext_a, ext_b) / max(min(ext_a, ext_b), 1e-6) > SIZE_JUMP:
            reasons.append("subject size jump")
        if a.color != b.color:
            reasons.append("subject colour change")
        if np.hypot(a.cx - b.cx, a.cy - b.cy) > PLACE_JUMP * feat.width:
            reasons.append("subject position jump")
    ta, tb = _tone(feat.profiles[t - 1]), _tone(feat.profiles[t])
    if ta is not None and tb is not None and abs(ta - tb) > TONE_JUMP:
        reasons.append("background tone jump")
    (pa, wa), (pb, wb) = feat.profiles[t - 1], feat.profiles[t]
    textured = (texture(pa, wa) >= CUT_TEXTURE, texture(pb, wb) >= CUT_TEXTURE)
    match = feat.steps[t - 1]
    if all(textured) and match is not None and match.score < MIN_MATCH:
        reasons.append("background does not continue")
    elif textured[0] != textured[1] and (match is None or match.score < MIN_MATCH):
        reasons.append("background texture appears or disappears")
    return reasons


def detect_shots(frames: np.ndarray | VideoFeatures, min_length: int = 2) -> list[tuple[int, int]]:
    """[(start, end)] shot frame ranges, end exclusive, covering the video. A cut closer than
    `min_length` frames after the previous one is ignored (a one-frame glitch is not a shot)."""
    feat = frames if isinstance(frames, VideoFeatures) else video_features(check_frames(frames))
    cuts = [0]
    for t in range(1, len(feat)):
        if t - cuts[-1] >= min_length and cut_reasons(feat, t):
            cuts.append(t)
    bounds = [*cuts, len(feat)]
    return [(a, b) for a, b in pairwise(bounds)]
