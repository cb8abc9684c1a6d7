"""Random clip specs with controllable shares (multi-shot, static subjects, camera moves)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from .motion import fits_in_frame
from .spec import (
    BACKGROUNDS,
    CAMERAS,
    COLORS,
    MOVING,
    SHAPES,
    SIZES,
    SPEEDS,
    Background,
    ClipSpec,
    Motion,
    Shot,
    Subject,
)


def shot_lengths(total: int, shots: int, align: int = 4) -> list[int]:
    """Split `total` = 1 + k*align frames into `shots` near-equal parts whose cuts fall on
    frames 1 + j*align, i.e. on latent-frame boundaries of a causal VAE with temporal factor
    `align` (frame 0 is its own latent frame)."""
    if shots == 1:
        return [total]
    steps = (total - 1) // align
    if steps < shots or (total - 1) % align:
        raise ValueError(f"frames: {total} frames cannot hold {shots} aligned shots (need 1 + k*{align})")
    # Each cut goes to the aligned frame nearest its even share (ties to the earlier frame).
    cuts = [1 + align * math.floor((total * j / shots - 1) / align + 0.5 - 1e-9) for j in range(1, shots)]
    bounds = [0, *cuts, total]
    return [b - a for a, b in pairwise(bounds)]


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return str(items[int(rng.integers(len(items)))])


def _motion(rng: np.random.Generator, static_share: float) -> Motion:
    if rng.random() < static_share:
        return Motion("static")
    return Motion(_pick(rng, MOVING), _pick(rng, SPEEDS))


def _camera(rng: np.random.Generator, camera_share: float) -> str:
    return _pick(rng, CAMERAS[1:]) if rng.random() < camera_share else "fixed"


def sample_clip(
    rng: np.random.Generator,
    *,
    multishot_share: float = 0.3,
    static_share: float = 0.15,
    camera_share: float = 0.3,
    close_share: float = 0.0,
    frames: int = 17,
    multishot_frames: int = 33,
    fps: int = 8,
    width: int = 64,
    height: int = 64,
    align: int = 4,
) -> ClipSpec:
    """A random clip. Single-shot clips are wide shots (close-ups with `close_share`) of
    `frames` frames; multi-shot clips have 2-3 shots over `multishot_frames` frames whose
    framings alternate between wide and close, the subject and background kept across cuts.
    Motions and camera moves are redrawn until the subject's path fits inside the frame."""
    subject = Subject(_pick(rng, SHAPES), _pick(rng, tuple(COLORS)), _pick(rng, SIZES))
    background = Background(_pick(rng, tuple(BACKGROUNDS)))
    seed = int(rng.integers(2**31 - 1))
    if rng.random() < multishot_share:
        lengths = shot_lengths(multishot_frames, 2 + int(rng.integers(2)), align)
        first = int(rng.integers(2))
        framings = [("wide", "close")[(first + k) % 2] for k in range(len(lengths))]
    else:
        lengths = [frames]
        framings = ["close" if rng.random() < close_share else "wide"]
    shots: list[Shot] = []
    for framing, n in zip(framings, lengths, strict=True):
        for attempt in range(50):
            # After many misses (a large close-up has little room) fall back to what always fits.
            share = 1.0 if attempt >= 40 else static_share
            cam = "fixed" if attempt >= 30 else _camera(rng, camera_share)
            shot = Shot(framing, _motion(rng, share), cam, n)
            trial = ClipSpec(subject, background, (*shots, shot), fps, width, height, seed)
            if fits_in_frame(trial):
                break
        shots.append(shot)
    return ClipSpec(subject, background, tuple(shots), fps, width, height, seed)
