"""Decoded video clips for pixel-space training (the VAE): a folder of MP4s, loaded into memory.

The folder is a ShapesWorld dataset (manifest.jsonl beside the clips) or any folder of videos.
A file that does not decode is skipped and reported (the run continues); a folder with no
readable video is an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from seedance.model.media import read_video
from seedance.training.data.latents import DatasetError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def list_videos(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: dataset directory does not exist")
    manifest = directory / "manifest.jsonl"
    if manifest.is_file():
        rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        paths = [directory / row["path"] for row in rows]
    else:
        paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not paths:
        raise DatasetError(f"{directory}: no videos found")
    return paths


class VideoClips:
    """Clips as uint8 [N, T, H, W, 3], all cut to `frames` frames (clips shorter are dropped)."""

    def __init__(self, directory: Path, frames: int, limit: int | None = None):
        self.skipped: list[tuple[str, str]] = []
        clips = []
        for path in list_videos(directory)[:limit]:
            try:
                video, _ = read_video(path)
            except Exception as e:  # a corrupt file must not stop a run; it is reported instead
                self.skipped.append((str(path), f"{type(e).__name__}: {e}"))
                continue
            if len(video) < frames:
                self.skipped.append((str(path), f"{len(video)} frames < {frames}"))
                continue
            clips.append(video[:frames])
        for path, why in self.skipped:
            print(f"warning: skipped {path}: {why}", file=sys.stderr)
        if not clips:
            raise DatasetError(f"{directory}: no readable video with at least {frames} frames")
        shapes = {c.shape for c in clips}
        if len(shapes) > 1:
            raise DatasetError(f"{directory}: clips have different sizes {sorted(shapes)}")
        self.frames = np.stack(clips)

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, indices: list[int]) -> torch.Tensor:
        """float [B, 3, T, H, W] in [-1, 1]."""
        x = torch.from_numpy(self.frames[indices]).float().div(127.5).sub(1.0)
        return x.permute(0, 4, 1, 2, 3).contiguous()
