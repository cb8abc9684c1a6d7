"""Per-clip features from frame signatures: motion (static filter), quality, and a cheap
embedding for near-duplicate removal; and the de-duplication itself.

Embedding (deterministic, no model): four keyframes at 1/8, 3/8, 5/8 and 7/8 of the clip, each
an 8x8 RGB average of its thumbnail, with the frame's mean grey level subtracted and divided by
its spread (so a brightness or contrast change, as a re-encode or a filter makes, does not
matter; colour differences stay); plus a 4x4 map of where the clip moves (mean absolute
thumbnail change over the clip) at half weight. L2-normalised: cosine = dot product.
Quality: the mean variance of the Laplacian of the grey frame (<= 256 px), i.e. sharpness;
contrast scales it too, so a blurred, washed-out or down-scaled copy of a clip scores lower
than its original. (Added noise raises it: a noisy copy can win; a learned aesthetic score is
the production answer.) Among near-duplicates the clip with the highest quality is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import FrameSignatures

KEYFRAMES = (0.125, 0.375, 0.625, 0.875)
GRID = 8  # keyframe side after pooling
MOTION_GRID = 4
MOTION_WEIGHT = 0.5
EMBED_DIM = len(KEYFRAMES) * GRID * GRID * 3 + MOTION_GRID * MOTION_GRID


@dataclass(frozen=True)
class ClipFeatures:
    motion: float  # grey levels (see decode.FrameSignatures.motion)
    quality: float  # sharpness (variance of the Laplacian)
    contrast: float
    embedding: np.ndarray  # float32 [EMBED_DIM], unit norm


def _pool(img: np.ndarray, side: int) -> np.ndarray:
    """[H, W, C] -> [side, side, C] block means (H and W multiples of side)."""
    h, w, c = img.shape
    return img.reshape(side, h // side, side, w // side, c).mean(axis=(1, 3))


def clip_motion(sig: FrameSignatures, start: int, end: int) -> float:
    # The first `motion_gap` frames of a clip compare against frames before it (another shot).
    values = sig.motion[start + sig.motion_gap:end]
    if len(values):
        return float(values.mean())
    thumbs = sig.thumbs[start:end].astype(np.float32)  # a clip shorter than the gap: neighbours only
    return float(np.abs(np.diff(thumbs, axis=0)).mean()) if len(thumbs) > 1 else 0.0


def clip_embedding(thumbs: np.ndarray) -> np.ndarray:
    t = len(thumbs)
    parts = []
    for pos in KEYFRAMES:
        frame = _pool(thumbs[min(t - 1, int(pos * t))].astype(np.float32), GRID)
        frame -= frame.mean()
        parts.append((frame / max(float(frame.std()), 1.0)).ravel() / np.sqrt(len(KEYFRAMES)))
    if t > 1:
        change = np.abs(np.diff(thumbs.astype(np.float32), axis=0)).mean(axis=(0, 3))[..., None]
        change = _pool(change, MOTION_GRID).ravel()
        change = change / max(float(np.linalg.norm(change)), 1e-6) if change.any() else change
    else:
        change = np.zeros(MOTION_GRID * MOTION_GRID, np.float32)
    # each keyframe part has norm ~ sqrt(1/4) * sqrt(192); scale the motion map to match its weight
    vec = np.concatenate([*parts, MOTION_WEIGHT * np.sqrt(GRID * GRID * 3) * change]).astype(np.float32)
    return vec / max(float(np.linalg.norm(vec)), 1e-12)


def clip_features(sig: FrameSignatures, start: int, end: int) -> ClipFeatures:
    return ClipFeatures(
        motion=clip_motion(sig, start, end),
        quality=float(sig.sharpness[start:end].mean()),
        contrast=float(sig.contrast[start:end].mean()),
        embedding=clip_embedding(sig.thumbs[start:end]),
    )


def near_duplicates(embeddings: np.ndarray, quality: list[float], threshold: float) -> list[int | None]:
    """For each clip, None if kept, else the index of the kept clip it duplicates.

    Leader clustering: clips are visited best quality first (ties: input order); a clip whose
    cosine similarity to an already kept clip is >= threshold joins that clip's cluster, else it
    is kept and leads a new cluster. So every cluster keeps exactly its best member. Cost is
    O(N x kept); at millions of clips an approximate nearest-neighbour index replaces the scan.
    """
    order = sorted(range(len(quality)), key=lambda i: (-quality[i], i))
    kept: list[int] = []
    out: list[int | None] = [None] * len(quality)
    for i in order:
        if kept:
            sims = embeddings[kept] @ embeddings[i]
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                out[i] = kept[j]
                continue
        kept.append(i)
    return out
