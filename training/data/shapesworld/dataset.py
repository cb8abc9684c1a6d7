"""Write a ShapesWorld dataset: MP4 clips plus manifest.jsonl, one row per complete clip.

Clip i's spec comes from the generator seeded with (seed, i), so a clip does not depend on how
many others are written, and the same (seed, i) always gives the same frames and texts.
Each MP4 is written atomically and the manifest is renamed into place at the end: a reader
never sees a row whose clip is missing or half written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seedance.model.media import atomic_path, write_mp4

from .captions import LANGS, clip_caption, i2v_caption, shot_caption, wrong_rewrites
from .prompts import user_prompts
from .render import render
from .sampling import sample_clip
from .spec import ClipSpec

MANIFEST = "manifest.jsonl"
TASKS = ("t2v", "i2v")


@dataclass(frozen=True)
class WriteSummary:
    manifest: Path
    clips: int
    multishot: int
    shots: int
    frames: int
    seconds: float
    render_seconds: float  # of which: generating frames and texts (the rest is mostly encoding)


def clip_spec(seed: int, index: int, **sample_kwargs: Any) -> ClipSpec:
    """The spec of clip `index` in the dataset drawn with `seed`."""
    return sample_clip(np.random.default_rng([seed, index]), **sample_kwargs)


def clip_texts(spec: ClipSpec) -> dict[str, Any]:
    """Every text of a clip, for the manifest: captions, prompts, rewrites, wrong rewrites."""
    return {
        "captions": {lang: clip_caption(spec, lang) for lang in LANGS},
        "shot_captions": {lang: [shot_caption(spec, k, lang) for k in range(len(spec.shots))] for lang in LANGS},
        "prompts": {task: {lang: [{"text": p.text, "fields": list(p.fields)} for p in user_prompts(spec, lang, task)]
                           for lang in LANGS} for task in TASKS},
        "rewrites": {"t2v": {lang: clip_caption(spec, lang) for lang in LANGS},
                     "i2v": {lang: i2v_caption(spec, lang) for lang in LANGS}},
        "wrong_rewrites": [asdict(w) for task in TASKS for lang in LANGS for w in wrong_rewrites(spec, lang, task)],
    }


def clip_record(spec: ClipSpec, clip_id: str, path: str) -> dict[str, Any]:
    return {
        "id": clip_id,
        "path": path,
        "spec": spec.to_dict(),
        "fps": spec.fps,
        "frames": spec.frames,
        "width": spec.width,
        "height": spec.height,
        "shots": [list(r) for r in spec.shot_ranges()],
        **clip_texts(spec),
    }


def generate(num_clips: int, seed: int, **sample_kwargs: Any) -> Iterator[tuple[ClipSpec, np.ndarray]]:
    """(spec, frames) for clips 0..num_clips-1, without touching the disk."""
    for i in range(num_clips):
        spec = clip_spec(seed, i, **sample_kwargs)
        yield spec, render(spec)


def write_dataset(
    out_dir: str | Path,
    num_clips: int,
    seed: int = 0,
    *,
    crf: int = 18,
    on_clip: Callable[[int], None] | None = None,
    **sample_kwargs: Any,
) -> WriteSummary:
    """Write `num_clips` clips under out_dir/clips/ and out_dir/manifest.jsonl. sample_kwargs
    go to sample_clip (multishot_share, static_share, camera_share, close_share, frames,
    multishot_frames, fps, width, height). `on_clip(i)` is called after each clip (progress)."""
    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    start, render_s = time.perf_counter(), 0.0
    rows: list[str] = []
    multishot = shots = frames = 0
    for i in range(num_clips):
        t0 = time.perf_counter()
        spec = clip_spec(seed, i, **sample_kwargs)
        video = render(spec)
        clip_id = f"{seed}-{i:06d}"
        rel = f"clips/{clip_id}.mp4"
        row = json.dumps(clip_record(spec, clip_id, rel), ensure_ascii=False)
        render_s += time.perf_counter() - t0
        write_mp4(video, out / rel, fps=spec.fps, crf=crf)
        rows.append(row)
        multishot += len(spec.shots) > 1
        shots += len(spec.shots)
        frames += spec.frames
        if on_clip is not None:
            on_clip(i)
    manifest = out / MANIFEST
    with atomic_path(manifest) as tmp:
        tmp.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return WriteSummary(manifest, num_clips, multishot, shots, frames, time.perf_counter() - start, render_s)


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a manifest.jsonl (a folder holding one is accepted too)."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    with p.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def row_spec(row: dict[str, Any]) -> ClipSpec:
    return ClipSpec.from_dict(row["spec"])
