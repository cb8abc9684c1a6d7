"""The mirror image of a ShapesWorld dataset: every clip flipped left to right and captioned as
what it now shows (a subject moving left moves right, a pan left is a pan right).

Why: the tiny DiT learns colour from its captions long before it learns direction, because one
random clip says little about which way a word should move things. A clip and its mirror differ
in the direction word and in nothing a caption can name, so training on the two together, with
the same noise (training/dit `mirror_data`), shows the DiT exactly what the word changes.

Row k of the mirror dataset is the mirror of row k of the source, so the two prepare into
datasets whose items line up index by index. A mirrored row's `spec` is the source spec with its
directions swapped: it is what the captions are written from, but rendering it would not give the
flipped clip (the start positions come from the spec's seed), so rows carry `mirror_of`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from seedance.model.media import atomic_path, read_video, write_mp4

from .dataset import MANIFEST, clip_record, read_manifest, row_spec
from .spec import ClipSpec

MIRROR_DIRECTION = {"left": "right", "right": "left"}
MIRROR_CAMERA = {"pan_left": "pan_right", "pan_right": "pan_left"}


def mirror_spec(spec: ClipSpec) -> ClipSpec:
    """The spec of `spec`'s clip seen in a mirror: left and right swapped in every shot."""
    shots = tuple(dataclasses.replace(
        shot,
        motion=dataclasses.replace(shot.motion, direction=MIRROR_DIRECTION.get(shot.motion.direction,
                                                                               shot.motion.direction)),
        camera=MIRROR_CAMERA.get(shot.camera, shot.camera),
    ) for shot in spec.shots)
    return dataclasses.replace(spec, shots=shots)


def write_mirrored(src: str | Path, out: str | Path, crf: int = 18,
                   on_clip: Callable[[int, int], None] | None = None) -> Path:
    """Write the mirror of dataset `src` (manifest.jsonl + clips) to `out`; returns its manifest.
    Clips are written one by one, the manifest last (atomically), like write_dataset.
    `on_clip(done, total)` is called after each clip (progress)."""
    src, out = Path(src), Path(out)
    rows = read_manifest(src / MANIFEST)
    if not rows:
        raise ValueError(f"{src}: the manifest has no clips")
    (out / "clips").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, row in enumerate(rows):
        frames, _ = read_video(src / row["path"])
        clip_id = f"{row['id']}-mirror"
        rel = f"clips/{clip_id}.mp4"
        write_mp4(frames[:, :, ::-1].copy(), out / rel, fps=row["fps"], crf=crf)
        record = clip_record(mirror_spec(row_spec(row)), clip_id, rel) | {"mirror_of": row["id"]}
        lines.append(json.dumps(record, ensure_ascii=False))
        if on_clip is not None:
            on_clip(i + 1, len(rows))
    manifest = out / MANIFEST
    with atomic_path(manifest) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return manifest
