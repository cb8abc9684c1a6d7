"""Streaming decode: a video file -> small per-frame signatures, and clip frames on demand.

A raw video can be far longer than memory allows at full resolution (10 min of 1080p is ~90 GB
of RGB), so the scan pass never keeps a full frame: each decoded frame is reduced at once to a
32x32 thumbnail (shot detection, embeddings) and three scalars (motion, sharpness, contrast).
That is ~3 KB per frame. Clip frames are decoded again, one clip at a time, when clips are
written (`iter_frames`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seedance.errors import SeedanceError

if TYPE_CHECKING:  # av is imported lazily: listing and planning code must not need it
    from av import VideoFrame
    from av.container import InputContainer

THUMB = 32  # side of the square thumbnail used by shot detection and the clip embedding
# Long side of the frame whose change over MOTION_GAP_S measures motion. Colour, not grey: a
# yellow subject on a white wall is nearly invisible in luma.
MOTION_SIDE = 64
# Motion compares frames half a second apart: slow motion then moves several pixels (well above
# compression noise), and the measure does not depend on the frame rate. Neighbouring frames
# are compared too (the larger difference counts): periodic motion whose period divides the
# gap (a bounce of 2 hops/s) would otherwise look still.
MOTION_GAP_S = 0.5
SHARP_SIDE = 256  # long side of the grey frame whose Laplacian measures sharpness


class CorruptVideoError(SeedanceError):
    """A video file that cannot be decoded (or holds no frames, or no frame rate)."""


@dataclass(frozen=True)
class FrameSignatures:
    fps: float
    width: int
    height: int
    thumbs: np.ndarray  # uint8 [T, THUMB, THUMB, 3]
    motion: np.ndarray  # float32 [T]: max over k in (1, gap) of mean |rgb_t - rgb_(t-k)|; 0 for t < gap
    motion_gap: int  # frames between the compared frames
    sharpness: np.ndarray  # float32 [T]: variance of the grey frame's Laplacian
    contrast: np.ndarray  # float32 [T]: standard deviation of the grey frame

    def __len__(self) -> int:
        return len(self.thumbs)


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) with the long side at most `side`, aspect kept, never upscaled."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def laplacian_variance(grey: np.ndarray) -> float:
    g = grey.astype(np.float32)
    if min(g.shape) < 3:
        return 0.0
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def _open(path: Path) -> InputContainer:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise CorruptVideoError(f"{path}: cannot open ({type(e).__name__}: {e})") from None
    if not container.streams.video:
        container.close()
        raise CorruptVideoError(f"{path}: no video stream")
    return container


class _Signer:
    """Reduces av frames to signatures as they are decoded (one full frame alive at a time)."""

    def __init__(self, width: int, height: int, fps: float):
        self.width, self.height, self.fps = width, height, fps
        self.gap = max(1, round(fps * MOTION_GAP_S))
        self.recent: deque[np.ndarray] = deque(maxlen=self.gap)  # the last `gap` motion frames
        self.motion_size = _fit(width, height, MOTION_SIDE)
        self.sharp_size = _fit(width, height, SHARP_SIDE)
        self.thumbs: list[np.ndarray] = []
        self.motion: list[float] = []
        self.sharp: list[float] = []
        self.contrast: list[float] = []

    def add(self, frame: VideoFrame) -> None:
        # swscale's AREA filter averages pixels, so thumbnails are not aliased by noise
        self.thumbs.append(frame.reformat(width=THUMB, height=THUMB, format="rgb24",
                                          interpolation="AREA").to_ndarray())
        mw, mh = self.motion_size
        small = frame.reformat(width=mw, height=mh, format="rgb24", interpolation="AREA").to_ndarray()
        small = small.astype(np.float32)
        if len(self.recent) == self.gap:
            self.motion.append(max(float(np.abs(small - self.recent[0]).mean()),
                                   float(np.abs(small - self.recent[-1]).mean())))
        else:
            self.motion.append(0.0)
        self.recent.append(small)
        sw, sh = self.sharp_size
        grey = frame.reformat(width=sw, height=sh, format="gray", interpolation="AREA").to_ndarray()
        self.sharp.append(laplacian_variance(grey))
        self.contrast.append(float(grey.std()))

    def result(self) -> FrameSignatures:
        return FrameSignatures(self.fps, self.width, self.height, np.stack(self.thumbs),
                               np.asarray(self.motion, np.float32), self.gap, np.asarray(self.sharp, np.float32),
                               np.asarray(self.contrast, np.float32))


def read_signatures(path: Path) -> FrameSignatures:
    """Decode every frame of `path` once and keep only its signature."""
    import av

    container = _open(path)
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    signer = _Signer(stream.codec_context.width, stream.codec_context.height, fps)
    try:
        for frame in container.decode(stream):
            signer.add(frame)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise CorruptVideoError(f"{path}: decoding failed after {len(signer.thumbs)} frames "
                                f"({type(e).__name__}: {e})") from None
    finally:
        container.close()
    if not signer.thumbs:
        raise CorruptVideoError(f"{path}: no decodable frames")
    if fps <= 0:
        raise CorruptVideoError(f"{path}: unknown frame rate")
    return signer.result()


def iter_frames(path: Path) -> Iterator[np.ndarray]:
    """Full-resolution uint8 [H, W, 3] frames, in order, one at a time."""
    import av

    container = _open(path)
    try:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise CorruptVideoError(f"{path}: decoding failed ({type(e).__name__}: {e})") from None
    finally:
        container.close()


def signatures_of(frames: np.ndarray, fps: float) -> FrameSignatures:
    """The same signature from uint8 [T, H, W, 3] frames already in memory."""
    import av

    signer = _Signer(frames.shape[2], frames.shape[1], fps)
    for rgb in frames:
        signer.add(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"))
    return signer.result()
