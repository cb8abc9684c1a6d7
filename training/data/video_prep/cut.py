"""Shots -> clip ranges: at most `max_seconds` each, 1 + 4k frames each (the causal VAE's rule).

A shot longer than the maximum is split into the fewest equal parts that fit. Every part of a
shot gets the same length, n // parts snapped down to 1 + 4k frames, placed in the middle of its
share of the shot (the frames right at a cut are the likeliest to hold a transition the detector
did not see). A part shorter than `min_frames` is dropped as too short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ClipRange:
    shot: int  # index of the shot in its source
    part: int  # index of the part within the shot
    start: int
    end: int  # exclusive

    @property
    def frames(self) -> int:
        return self.end - self.start


def snap_frames(n: int, temporal: int = 4) -> int:
    """The largest 1 + temporal*k <= n (0 when n < 1)."""
    return 0 if n < 1 else 1 + temporal * ((n - 1) // temporal)


def frame_limits(fps: float, max_seconds: float, min_seconds: float, temporal: int = 4) -> tuple[int, int]:
    """(max, min) clip frames at this frame rate; max is itself 1 + temporal*k."""
    max_frames = snap_frames(math.floor(max_seconds * fps + 1e-9), temporal)
    if max_frames < 1:
        raise ValueError(f"max_seconds: {max_seconds} s is less than one frame at {fps} fps")
    return max_frames, max(1, math.ceil(min_seconds * fps - 1e-9))


def cut_shots(shots: list[tuple[int, int]], max_frames: int, min_frames: int,
              temporal: int = 4) -> tuple[list[ClipRange], list[ClipRange]]:
    """(clips, too short) for shot ranges [(start, end)], end exclusive."""
    clips: list[ClipRange] = []
    short: list[ClipRange] = []
    for k, (a, b) in enumerate(shots):
        n = b - a
        parts = max(1, math.ceil(n / max_frames))
        bounds = [a + (i * n) // parts for i in range(parts + 1)]  # each share >= n // parts
        keep = snap_frames(n // parts, temporal)
        for p in range(parts):
            lo, hi = bounds[p], bounds[p + 1]
            start = lo + (hi - lo - keep) // 2
            clip = ClipRange(k, p, start, start + keep)
            (clips if keep >= min_frames else short).append(clip)
    return clips, short
