"""CLI: python -m seedance.training.data.video_prep --input DIR|s3://bucket/prefix --out DIR
[--max-seconds 12] [--local] [--captioner shapesworld] [--encode --model DIR [--encode-out DIR]]

Runs on a local Ray cluster (kept on 127.0.0.1) unless --local; --ray-address joins an existing
cluster. Prints progress on stderr and one summary line on stdout; errors a user can cause (no
such input, no videos) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seedance.errors import SeedanceError

from .captions import CAPTIONERS, make_captioner
from .pipeline import prepare_videos
from .shots import ShotDetector
from .stages import PrepConfig


def build_parser() -> argparse.ArgumentParser:
    d = PrepConfig()
    p = argparse.ArgumentParser(prog="python -m seedance.training.data.video_prep",
                                description="Raw videos -> shot-cut, filtered, de-duplicated, captioned clips.")
    p.add_argument("--input", required=True, help="a directory of videos (searched recursively) or s3://bucket/prefix")
    p.add_argument("--out", required=True, help="output folder: clips/, manifest.jsonl, embeddings.npy, report.json")
    p.add_argument("--max-seconds", type=float, default=d.max_seconds, help="longest clip (long shots are split)")
    p.add_argument("--min-seconds", type=float, default=d.min_seconds, help="shorter clips are dropped")
    p.add_argument("--static-threshold", type=float, default=d.static_threshold,
                   help="clips whose mean colour change over 0.5 s is below this (grey levels) are dropped")
    p.add_argument("--duplicate-threshold", type=float, default=d.duplicate_threshold,
                   help="cosine similarity of clip embeddings at which clips are near-duplicates")
    p.add_argument("--cut-ratio", type=float, default=ShotDetector().ratio,
                   help="shot detector: a cut's change over its neighbourhood's median")
    p.add_argument("--captioner", choices=sorted(CAPTIONERS), help="caption clips that have no sidecar")
    p.add_argument("--local", action="store_true", help="run in this process instead of on Ray")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one on 127.0.0.1)")
    p.add_argument("--encode", action="store_true", help="also write VAE latents + caption embeddings")
    p.add_argument("--model", help="model directory whose VAE and text encoder --encode uses")
    p.add_argument("--encode-out", help="where --encode writes (default: OUT/latents)")
    p.add_argument("--lowres", help="with --encode: also refiner conditions from this base size, e.g. 64x64")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.encode and not a.model:
        parser.error("--encode needs --model DIR")
    cfg = PrepConfig(max_seconds=a.max_seconds, min_seconds=a.min_seconds, static_threshold=a.static_threshold,
                     duplicate_threshold=a.duplicate_threshold, detector=ShotDetector(ratio=a.cut_ratio))
    try:
        result = prepare_videos(a.input, Path(a.out), cfg, make_captioner(a.captioner), use_ray=not a.local,
                                progress=not a.no_progress, ray_address=a.ray_address)
        print(result.summary())
        if a.encode:
            from .encode import encode_prepared

            lowres = None
            if a.lowres:
                w, h = (int(v) for v in a.lowres.lower().split("x"))
                lowres = (w, h)
            target = Path(a.encode_out) if a.encode_out else Path(a.out) / "latents"
            path, skipped = encode_prepared(Path(a.out), Path(a.model), target, lowres, not a.no_progress)
            print(f"encoded {result.counts['kept'] - len(skipped)} clips -> {path} ({len(skipped)} skipped)")
    except SeedanceError as e:
        print(f"video_prep: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
