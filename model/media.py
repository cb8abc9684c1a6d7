"""Video and image files: H.264 MP4 out, frames in, contact sheets.

Writes are atomic: a file is written beside its destination under a temporary name and renamed
into place, so an output is either complete or absent.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from seedance.errors import InvalidRequestError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path in the destination's folder; rename it onto `path` on success."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_mp4(frames: np.ndarray, path: Path, fps: int, crf: int = 18) -> None:
    """frames: uint8 [T, H, W, 3] with even H and W -> H.264 (yuv420p) MP4."""
    import av

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 needs even sizes, got {w}x{h}")
    with atomic_path(Path(path)) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: Path) -> tuple[np.ndarray, float]:
    """Decode every frame of a video file: (uint8 [T, H, W, 3], fps)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
    return np.stack(frames), fps


def load_image(path: str | os.PathLike, field: str = "image") -> Image.Image:
    """Open an image file as RGB, or raise InvalidRequestError naming `field`."""
    p = Path(path)
    if not p.is_file():
        raise InvalidRequestError(field, f"file not found: {p}")
    try:
        with Image.open(p) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise InvalidRequestError(field, f"not a readable image: {p} ({e.__class__.__name__})") from None


def fit_image(img: Image.Image, width: int, height: int) -> np.ndarray:
    """Resize to cover (width, height), centre-crop, return uint8 [H, W, 3]."""
    scale = max(width / img.width, height / img.height)
    rw, rh = max(width, round(img.width * scale)), max(height, round(img.height * scale))
    img = img.resize((rw, rh), Image.Resampling.BICUBIC)
    left, top = (rw - width) // 2, (rh - height) // 2
    return np.asarray(img.crop((left, top, left + width, top + height)), dtype=np.uint8)


def contact_sheet(frames: np.ndarray, path: Path, max_tiles: int = 16, columns: int = 4, pad: int = 2) -> None:
    """A PNG grid of up to `max_tiles` evenly spaced frames."""
    t, h, w, _ = frames.shape
    idx = np.unique(np.linspace(0, t - 1, min(max_tiles, t)).round().astype(int))
    cols = min(columns, len(idx))
    rows = -(-len(idx) // cols)
    sheet = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 24, dtype=np.uint8)
    for n, i in enumerate(idx):
        r, c = divmod(n, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + h, x : x + w] = frames[i]
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")
