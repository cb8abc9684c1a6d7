"""CLI: python -m seedance.training.data.shapesworld --out DIR --num N --seed S
       python -m seedance.training.data.shapesworld --out DIR --mirror SRC"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from .dataset import write_dataset
from .mirror import write_mirrored


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seedance.training.data.shapesworld",
                                description="Write a ShapesWorld dataset (MP4 clips + manifest.jsonl).")
    p.add_argument("--out", required=True, help="output folder")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--num", type=int, help="number of clips")
    what.add_argument("--mirror", metavar="SRC", help="instead: write the mirror image of dataset SRC (every clip "
                                                      "flipped left-right, captions to match, row k = mirror of row k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--multishot-share", type=float, default=0.3)
    p.add_argument("--static-share", type=float, default=0.15)
    p.add_argument("--camera-share", type=float, default=0.3)
    p.add_argument("--close-share", type=float, default=0.0, help="share of single-shot clips framed close")
    p.add_argument("--frames", type=int, default=17, help="frames of a single-shot clip (1 + 4k)")
    p.add_argument("--multishot-frames", type=int, default=33, help="frames of a multi-shot clip (1 + 4k)")
    p.add_argument("--fps", type=int, default=8)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.mirror:
        return _mirror(a.mirror, a.out, a.crf, a.no_progress)
    if a.num < 1:
        p.error("--num must be at least 1")
    for name in ("multishot_share", "static_share", "camera_share", "close_share"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            p.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    bar = tqdm(total=a.num, unit="clip", disable=a.no_progress, file=sys.stderr)
    try:
        s = write_dataset(
            a.out, a.num, a.seed, crf=a.crf, on_clip=lambda _: bar.update(1),
            multishot_share=a.multishot_share, static_share=a.static_share, camera_share=a.camera_share,
            close_share=a.close_share, frames=a.frames, multishot_frames=a.multishot_frames, fps=a.fps,
            width=a.width, height=a.height,
        )
    except ValueError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    print(f"wrote {s.clips} clips ({s.multishot} multi-shot, {s.shots} shots, {s.frames} frames) to "
          f"{s.manifest} in {s.seconds:.1f}s ({1000 * s.render_seconds / s.clips:.1f} ms/clip generating, "
          f"{1000 * (s.seconds - s.render_seconds) / s.clips:.1f} ms/clip encoding)")
    return 0


def _mirror(src: str, out: str, crf: int, no_progress: bool) -> int:
    bar = tqdm(unit="clip", disable=no_progress, file=sys.stderr)
    written = [0]  # a disabled bar does not count

    def progress(done: int, total: int) -> None:
        bar.total, written[0] = total, done
        bar.update(1)

    try:
        manifest = write_mirrored(src, out, crf=crf, on_clip=progress)
    except OSError as e:
        bar.close()
        print(f"error: --mirror: cannot read {src}: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        bar.close()
        print(f"error: --mirror: {e}", file=sys.stderr)
        return 2
    bar.close()
    print(f"wrote the mirror of {written[0]} clips to {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
