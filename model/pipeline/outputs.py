"""Writing a generation's files: the MP4, its metadata JSON and a PNG contact sheet, side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seedance.errors import InvalidRequestError
from seedance.model.media import atomic_path, contact_sheet, write_mp4
from seedance.model.pipeline.pipeline import GenerationResult


@dataclass(frozen=True)
class OutputPaths:
    video: Path
    metadata: Path
    contact_sheet: Path
    preview: Path | None


def check_output_path(path: str | Path) -> Path:
    """Reject an output path before any work is done: it must be an .mp4 in an existing folder."""
    p = Path(path)
    if p.suffix.lower() != ".mp4":
        raise InvalidRequestError("output", f"must end in .mp4, got {p.name!r}")
    if not p.parent.is_dir():
        raise InvalidRequestError("output", f"directory does not exist: {p.parent}")
    if p.is_dir():
        raise InvalidRequestError("output", f"is a directory: {p}")
    return p


def save_result(result: GenerationResult, path: str | Path) -> OutputPaths:
    """Write `name.mp4`, `name.json`, `name.png` (and `name.preview.mp4` when refined).

    The metadata is written last, so its presence means the video beside it is complete."""
    video = check_output_path(path)
    fps = result.plan.fps
    write_mp4(result.frames, video, fps)
    sheet = video.with_suffix(".png")
    contact_sheet(result.frames, sheet)
    preview = None
    if result.preview is not None:
        preview = video.with_suffix(".preview.mp4")
        write_mp4(result.preview, preview, fps)
    meta = video.with_suffix(".json")
    with atomic_path(meta) as tmp:
        tmp.write_text(json.dumps({**result.metadata, "video": video.name}, indent=2, ensure_ascii=False) + "\n")
    return OutputPaths(video, meta, sheet, preview)
