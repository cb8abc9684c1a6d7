"""Optional last step: prepared clips (manifest.jsonl) -> VAE latents + caption embeddings.

The same shards as training/data/prepare.py writes for ShapesWorld (LatentDatasetWriter: one
bucket per clip shape, OUT/<frames>f_<W>x<H>_<fps>fps/), so DiT training reads either. Every
clip is one shot (frame_shot is all zeros). Caption kinds: t2v_<lang> is the clip's caption
in that language, else its language-free "caption"; i2v_<lang> is the motion-only caption when
the captioner gave one, else the T2V text (a sidecar has no motion-only caption). Frames are
centre-cropped to a multiple of the VAE's spatial factor. A row without a caption (or whose
clip file is missing or unreadable) is skipped and reported, naming its id and source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seedance.model.bundle import load_bundle
from seedance.model.media import read_video
from seedance.training.data.latents import DatasetError
from seedance.training.data.prepare import bucket_writers, encode_captions, encode_clip

from .pipeline import MANIFEST


def row_texts(row: dict[str, Any]) -> dict[str, list[str]]:
    """Caption texts per kind (one per shot, and a clip is one shot); DatasetError naming the row
    and its source when the caption is missing."""
    caption = row.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise DatasetError(f"{row.get('id', '?')} from {row.get('source', '?')}: missing caption")
    captions, i2v = row.get("captions") or {}, row.get("i2v_captions") or {}
    out = {}
    for lang in ("en", "zh"):
        t2v = captions.get(lang) or caption
        out[f"t2v_{lang}"], out[f"i2v_{lang}"] = [t2v], [i2v.get(lang) or t2v]
    return out


def crop_to(frames: np.ndarray, multiple: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise DatasetError(f"{w}x{h} frames are smaller than the VAE's spatial factor {multiple}")
    top, left = (h - nh) // 2, (w - nw) // 2
    return frames[:, top:top + nh, left:left + nw]


@torch.no_grad()
def encode_prepared(data: str | Path, model_dir: str | Path, out: str | Path,
                    lowres: tuple[int, int] | None = None, progress: bool = True) -> tuple[Path, list[str]]:
    """Encode every manifest row of `data` (a video_prep output folder) into `out`.
    Returns (out, skipped rows with reasons); raises DatasetError when nothing could be encoded."""
    data, out = Path(data), Path(out)
    manifest = data / MANIFEST
    if not manifest.is_file():
        raise DatasetError(f"{data}: no {MANIFEST} (run video_prep first)")
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    bundle = load_bundle(Path(model_dir))
    te, vae_cfg = bundle.text_encoder, bundle.config.vae
    writers = bucket_writers(te)
    skipped: list[str] = []
    iterator: Any = rows
    if progress:
        from tqdm import tqdm

        iterator = tqdm(rows, desc="encode", unit="clip", file=sys.stderr)
    for row in iterator:
        try:
            texts = row_texts(row)
            frames, fps = read_video(data / row["path"])
            if (len(frames) - 1) % vae_cfg.temporal_compression:
                raise DatasetError(f"{row['id']}: {len(frames)} frames is not 1 + "
                                   f"{vae_cfg.temporal_compression}k")
            frames = crop_to(frames, vae_cfg.spatial_compression)
        except Exception as e:  # one bad row is reported; the others are still encoded
            skipped.append(f"{row.get('id', '?')} ({row.get('source', '?')}): {type(e).__name__}: {e}")
            continue
        latent, low = encode_clip(bundle, frames, lowres)
        captions = encode_captions(te, texts)
        bucket = f"{len(frames)}f_{frames.shape[2]}x{frames.shape[1]}_{round(fps)}fps"
        shots = torch.zeros(latent.shape[1], dtype=torch.long)  # each prepared clip is one shot
        writers.bucket(bucket).add(latent, captions, shots, moving=True, lowres=low)  # static clips were dropped
    for line in skipped:
        print(f"warning: skipped {line}", file=sys.stderr)
    if not writers:
        raise DatasetError(f"{data}: no clip could be encoded ({len(skipped)} skipped)")
    meta = {"source": str(data), "model": str(model_dir), "fps": rows[0]["fps"],
            "lowres": list(lowres) if lowres else None, "skipped": skipped}
    return writers.write(out, meta), skipped
