"""Per-frame features shared by shot detection and shot analysis, computed once per video."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .camera import Alignment, align, column_profile
from .segment import FrameMeasure, measure_frames


@dataclass(frozen=True)
class VideoFeatures:
    measures: list[FrameMeasure]  # the subject in each frame
    profiles: list[tuple[np.ndarray, np.ndarray]]  # background column profile and its weights
    steps: list[Alignment | None]  # steps[t - 1]: background frame t-1 -> t (None: too flat)
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.measures)


def check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be [T, H, W, 3], got {frames.shape}")
    if frames.dtype != np.uint8:
        frames = np.clip(np.rint(frames.astype(np.float32)), 0, 255).astype(np.uint8)
    return frames


def video_features(frames: np.ndarray) -> VideoFeatures:
    frames = check_frames(frames)
    measures = measure_frames(frames)
    profiles = [column_profile(f, m.mask) for f, m in zip(frames, measures, strict=True)]
    steps = [align(*a, *b) for a, b in pairwise(profiles)]
    return VideoFeatures(measures, profiles, steps, frames.shape[2], frames.shape[1])
