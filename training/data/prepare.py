"""Offline preparation: a clip dataset -> VAE latents + caption embeddings (training/data/latents.py).

Uses a model directory's VAE and text encoder (its DiT is not needed, so a partly trained bundle
works). For each clip: the latent of the whole clip; per-shot captions in English and Chinese;
the I2V captions (shot 0 motion-only, later shots as in T2V); the latent frame -> shot map; and
whether anything moves. With `lowres`, also the refiner's condition: the clip shrunk to the
base size, upsampled back (as the pipeline does at inference) and encoded. Clips of different
shapes (single-shot 17 frames, multi-shot 33) go to different buckets: OUT/<frames>f_<W>x<H>/.

Run: python -m seedance.training.data.prepare --data DIR --model DIR --out DIR [--lowres WxH]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seedance.model.bundle import ModelBundle, load_bundle
from seedance.model.conditioning import frames_to_video_tensor
from seedance.model.media import read_video
from seedance.training.data.latents import CAPTION_KINDS, BucketWriters, DatasetError
from seedance.training.data.shapesworld import i2v_caption, read_manifest, row_spec
from seedance.training.data.shapesworld.spec import ClipSpec


def latent_frame_shots(shot_ranges: list[list[int]], latent_frames: int, temporal: int) -> torch.Tensor:
    """Shot id of each latent frame: latent i covers pixel frames up to temporal*i (causal VAE),
    so it belongs to the shot holding that last pixel frame."""
    last_pixel = [temporal * i for i in range(latent_frames)]
    return torch.tensor([next(s for s, (a, b) in enumerate(shot_ranges) if a <= p < b) for p in last_pixel])


def clip_captions(row: dict, spec: ClipSpec) -> dict[str, list[str]]:
    """Caption texts per kind, one per shot."""
    out = {}
    for lang in ("en", "zh"):
        shots = row["shot_captions"][lang]
        first_only = dataclasses.replace(spec, shots=spec.shots[:1])
        out[f"t2v_{lang}"] = list(shots)
        out[f"i2v_{lang}"] = [i2v_caption(first_only, lang), *shots[1:]]
    return out


def is_moving(spec: ClipSpec) -> bool:
    return any(s.motion.direction != "static" or s.camera != "fixed" for s in spec.shots)


@torch.no_grad()
def encode_clip(bundle: ModelBundle, frames: np.ndarray, lowres: tuple[int, int] | None) -> tuple[torch.Tensor, ...]:
    vae = bundle.vae
    video = frames_to_video_tensor(frames)
    latent = vae.normalize(vae.encode(video).mode())[0]
    if lowres is None:
        return latent, None
    w, h = lowres
    t = video.shape[2]
    small = F.interpolate(video, size=(t, h, w), mode="area")
    up = F.interpolate(small, size=video.shape[2:], mode="trilinear", align_corners=False)
    return latent, vae.normalize(vae.encode(up).mode())[0]


@torch.no_grad()
def encode_captions(te, texts: dict[str, list[str]]) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Each kind's captions -> unpadded (hidden, mask) per caption, as LatentDatasetWriter.add takes."""
    captions = {}
    for kind in CAPTION_KINDS:
        emb = te.encode(texts[kind])
        captions[kind] = [(emb.hidden[k][emb.mask[k]], emb.mask[k][emb.mask[k]]) for k in range(len(texts[kind]))]
    return captions


def bucket_writers(te) -> BucketWriters:
    """Writers keyed by clip shape, with the text encoder's empty caption as the unconditional one."""
    empty = te.encode([""])
    return BucketWriters(te.cfg.hidden_size, te.cfg.max_length,
                         (empty.hidden[0][empty.mask[0]], empty.mask[0][empty.mask[0]]))


@torch.no_grad()
def prepare_shapesworld(data: Path, model_dir: Path, out: Path, lowres: tuple[int, int] | None = None,
                        limit: int | None = None, progress: bool = True) -> Path:
    bundle = load_bundle(Path(model_dir))
    rows = read_manifest(Path(data) / "manifest.jsonl")[:limit]
    te = bundle.text_encoder
    writers = bucket_writers(te)  # one bucket per clip shape (frames, size)
    tc = bundle.config.vae.temporal_compression
    skipped: list[str] = []
    iterator = rows
    if progress:
        from tqdm import tqdm

        iterator = tqdm(rows, desc="prepare", unit="clip")
    for row in iterator:
        try:
            frames, _ = read_video(Path(data) / row["path"])
        except Exception as e:  # a corrupt clip is reported and skipped; the run goes on
            skipped.append(f"{row['path']}: {type(e).__name__}: {e}")
            continue
        spec = row_spec(row)
        latent, low = encode_clip(bundle, frames, lowres)
        captions = encode_captions(te, clip_captions(row, spec))
        shots = latent_frame_shots(row["shots"], latent.shape[1], tc)
        bucket = f"{row['frames']}f_{row['width']}x{row['height']}"
        writers.bucket(bucket).add(latent, captions, shots, moving=is_moving(spec), lowres=low)
    for line in skipped:
        print(f"warning: skipped {line}", file=sys.stderr)
    if not writers:
        raise DatasetError(f"{data}: no readable clips")
    meta = {"source": str(data), "model": str(model_dir), "fps": rows[0]["fps"],
            "lowres": list(lowres) if lowres else None, "skipped": skipped}
    return writers.write(Path(out), meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seedance.training.data.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a ShapesWorld dataset folder (manifest.jsonl + clips)")
    parser.add_argument("--model", required=True, help="model directory whose VAE and text encoder to use")
    parser.add_argument("--out", required=True, help="output folder for the prepared dataset")
    parser.add_argument("--lowres", help="also write refiner conditions from this base size, e.g. 64x64")
    parser.add_argument("--limit", type=int, help="only the first N clips")
    args = parser.parse_args(argv)
    lowres = tuple(int(v) for v in args.lowres.lower().split("x")) if args.lowres else None
    path = prepare_shapesworld(Path(args.data), Path(args.model), Path(args.out), lowres, args.limit)
    print(f"prepared {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
