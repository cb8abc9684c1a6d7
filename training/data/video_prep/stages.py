"""The two per-video steps, run in-process (`--local`) or as Ray Data tasks (the same functions).

scan_source (one source video -> rows): decode once into signatures, detect shots, cut clips,
measure each clip (motion, quality, embedding), drop the too-short and static ones, attach the
sidecar caption, and mark clips that can get no caption at all. Nothing is written.
write_source (one source video + its clips that survived de-duplication -> rows): decode the
source again, caption each clip that has no sidecar caption (the captioner, the expensive step,
so it only sees survivors), and write the clip MP4s (atomically).

Rows are plain JSON-able dicts. Neither step raises for a bad video: a corrupt file, or any
failure, becomes a row saying so, so one bad input never stops a run.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from seedance.model.media import write_mp4

from .captions import Caption, Captioner, CaptionError, ClipFrames, parse_sidecar
from .cut import cut_shots, frame_limits
from .decode import CorruptVideoError, iter_frames, read_signatures
from .features import clip_features
from .shots import ShotDetector
from .sources import SourceItem, local_copy, read_text


@dataclass(frozen=True)
class PrepConfig:
    max_seconds: float = 12.0
    min_seconds: float = 1.0  # shorter clips (after snapping to 1 + 4k frames) are dropped
    temporal: int = 4  # clip frames are 1 + temporal*k (the VAE's temporal compression)
    # Mean colour change over 0.5 s (grey levels) below which a clip is static. On ShapesWorld
    # static shots measure <= 0.01 and the slowest moving ones >= 0.9.
    static_threshold: float = 0.5
    duplicate_threshold: float = 0.97  # cosine similarity at or above which clips are near-duplicates
    detector: ShotDetector = field(default_factory=ShotDetector)
    crf: int = 18  # H.264 quality of the written clips


def clip_id(source_name: str, start: int) -> str:
    """Readable and unique: the source path as a slug, a short hash of it (slugs can collide),
    and the clip's first frame."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", source_name.rsplit(".", 1)[0]).strip("_") or "video"
    digest = hashlib.sha1(source_name.encode("utf-8")).hexdigest()[:6]
    return f"{stem}-{digest}-{start:06d}"


def _sidecar(item: SourceItem) -> tuple[Caption | None, str | None]:
    """(caption, None) or (None, why there is none)."""
    if item.sidecar is None:
        return None, "no caption sidecar"
    try:
        return parse_sidecar(read_text(item.sidecar), item.sidecar.rsplit("/", 1)[-1]), None
    except (CaptionError, OSError, UnicodeDecodeError) as e:
        return None, f"unusable caption sidecar: {e}"


def scan_source(item_dict: dict[str, Any], cfg: PrepConfig, has_captioner: bool) -> list[dict[str, Any]]:
    item = SourceItem.from_dict(item_dict)
    head: dict[str, Any] = {"type": "source", "source": item.name, "uri": item.uri}
    try:
        with local_copy(item.uri) as path:
            try:
                sig = read_signatures(path)
            except CorruptVideoError as e:  # named by its source name, not a temporary download
                return [{**head, "status": "corrupt", "reason": str(e).replace(str(path), item.name)}]
    except Exception as e:  # a failure is reported, never fatal: the other videos go on
        return [{**head, "status": "failed", "reason": f"{type(e).__name__}: {e}",
                 "traceback": traceback.format_exc(limit=4)}]
    shots = cfg.detector.detect(sig.thumbs)
    max_frames, min_frames = frame_limits(sig.fps, cfg.max_seconds, cfg.min_seconds, cfg.temporal)
    clips, short = cut_shots(shots, max_frames, min_frames, cfg.temporal)
    caption, no_caption = _sidecar(item)
    rows: list[dict[str, Any]] = [{**head, "status": "ok", "frames": len(sig), "fps": sig.fps,
                                   "width": sig.width, "height": sig.height, "shots": [list(s) for s in shots]}]
    for c in sorted([*clips, *short], key=lambda c: c.start):
        row: dict[str, Any] = {"type": "clip", "id": clip_id(item.name, c.start), "source": item.name,
                               "uri": item.uri, "shot": c.shot, "part": c.part, "start": c.start,
                               "end": c.end, "frames": c.frames, "fps": sig.fps, "drop": None}
        if c in short:
            rows.append({**row, "drop": "short", "reason": f"{c.frames} frames < minimum {min_frames}"})
            continue
        feat = clip_features(sig, c.start, c.end)
        row.update(motion=feat.motion, quality=feat.quality, contrast=feat.contrast,
                   embedding=[float(v) for v in feat.embedding])
        if feat.motion < cfg.static_threshold:
            row.update(drop="static", reason=f"motion {feat.motion:.2f} < {cfg.static_threshold}")
        elif caption is not None:
            row.update(caption.to_row())
        elif not has_captioner:
            row.update(drop="uncaptioned", reason=f"{item.name}: {no_caption} and no captioner")
        rows.append(row)
    return rows


def _even_crop(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[1:3]
    return frames[:, : h - h % 2, : w - w % 2]  # H.264 (yuv420p) needs even sizes


def _rate(fps: float) -> int | Fraction:
    """The written clip keeps the source's rate: 24 stays 24, 29.97 stays 30000/1001."""
    return round(fps) if abs(fps - round(fps)) < 1e-6 else Fraction(fps).limit_denominator(1001)


def write_source(group: dict[str, Any], cfg: PrepConfig, captioner: Captioner | None,
                 out_dir: str) -> list[dict[str, Any]]:
    """group: {"item": SourceItem dict, "clips": [clip rows of this source]}."""
    item = SourceItem.from_dict(group["item"])
    pending = sorted(group["clips"], key=lambda r: r["start"])
    done: list[dict[str, Any]] = []
    clips_dir = Path(out_dir) / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    try:
        with local_copy(item.uri) as path:
            buffer: list[np.ndarray] = []
            k = 0
            for t, frame in enumerate(iter_frames(path)):
                if k >= len(pending):
                    break
                if t >= pending[k]["start"]:
                    buffer.append(frame)
                if t == pending[k]["end"] - 1:  # clips never overlap, so one buffer suffices
                    done.append(_finish(pending[k], np.stack(buffer), cfg, captioner, clips_dir))
                    buffer, k = [], k + 1
    except Exception as e:  # e.g. the file changed since the scan; the remaining clips are reported
        reason = f"{item.name}: {type(e).__name__}: {e}"
        return done + [{**r, "drop": "failed", "reason": reason} for r in pending[len(done):]]
    return done + [{**r, "drop": "failed", "reason": f"{item.name}: ended before frame {r['end']}"}
                   for r in pending[len(done):]]


def _finish(row: dict[str, Any], frames: np.ndarray, cfg: PrepConfig, captioner: Captioner | None,
            clips_dir: Path) -> dict[str, Any]:
    if "caption" not in row:
        assert captioner is not None  # scan_source dropped the clip otherwise
        caption = captioner(ClipFrames(row["source"], row["start"], row["end"], row["fps"], frames))
        if caption is None or not caption.text.strip():
            return {**row, "drop": "uncaptioned",
                    "reason": f"{row['source']}: no caption sidecar and captioner {captioner.name!r} "
                              f"could not caption frames {row['start']}-{row['end']}"}
        row = {**row, **caption.to_row()}
    frames = _even_crop(frames)
    rel = f"clips/{row['id']}.mp4"
    write_mp4(frames, clips_dir.parent / rel, fps=_rate(row["fps"]), crf=cfg.crf)  # type: ignore[arg-type]
    return {**row, "path": rel, "width": int(frames.shape[2]), "height": int(frames.shape[1])}
