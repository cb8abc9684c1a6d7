"""`seedance generate`: prompt (+ first frame, + more shots) -> MP4, metadata JSON, contact sheet."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from seedance.cli.common import load_model, model_config
from seedance.errors import InvalidRequestError
from seedance.model.pipeline import GenerationRequest, Progress, SeedancePipeline, plan
from seedance.model.pipeline.outputs import check_output_path, save_result
from seedance.model.pipeline.sizes import ADAPTIVE, RATIOS, RESOLUTIONS

STAGE_LABELS = {"rewrite": "rewrite prompt", "encode": "encode text", "denoise": "denoise",
                "decode": "decode video", "refine": "refine", "refine_decode": "decode refined"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a video from a prompt",
                       description="Generate a video from a prompt. Writes OUT.mp4, OUT.json (metadata) "
                                   "and OUT.png (contact sheet) side by side.")
    p.add_argument("prompt", help="what to generate (the first shot when --shot is given)")
    p.add_argument("-o", "--output", help="output .mp4 (default: outputs/<prompt>-<seed>.mp4)")
    p.add_argument("--image", help="first frame (image-to-video)")
    p.add_argument("--last-image", help="last frame (first+last frame)")
    p.add_argument("--shot", action="append", default=[], metavar="PROMPT",
                   help="add a further shot with its own prompt (repeatable: multi-shot)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, help="frame count, 1 + 4k (default: the model's)")
    length.add_argument("--duration", type=float, help="seconds (mapped to the nearest 1 + 4k frames)")
    p.add_argument("--fps", type=int, help="frames per second (default: the model's)")
    p.add_argument("--resolution", help=f"one of {', '.join(RESOLUTIONS)} that the model supports "
                                         "(above the base resolution runs the refiner)")
    p.add_argument("--ratio", help=f"aspect ratio: {', '.join(RATIOS)} or {ADAPTIVE} (from --image)")
    p.add_argument("--seed", type=int, default=-1, help="random seed; -1 = random (default)")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--camera-fixed", action="store_true", help="ask for a fixed camera")
    p.add_argument("--model", metavar="DIR", help="model directory (default: the embedded tiny model)")
    p.add_argument("--thin-decoder", action="store_true", help="decode with the thin VAE decoder, if the model has one")
    p.add_argument("--decode-chunk", type=int, metavar="N",
                   help="decode N latent frames at a time with a causal cache (bounded memory, same output)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the DiT's repeated blocks (slow first run; faster denoise)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def default_output(prompt: str, seed: int) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "video"
    out = Path("outputs")
    out.mkdir(exist_ok=True)
    return out / f"{slug}-{seed if seed >= 0 else int(time.time())}.mp4"


class StageBars:
    """One tqdm bar per stage, created when the stage starts reporting."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(event.stage)
        if bar is None:
            bar = self.bars[event.stage] = tqdm(total=event.total, desc=f"{STAGE_LABELS[event.stage]:>15}",
                                                unit="step", file=sys.stderr, leave=True)
        bar.update(event.step - bar.n)
        if event.step >= event.total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def run(args: argparse.Namespace) -> int:
    request = GenerationRequest(
        prompt=args.prompt, shots=args.shot, image=args.image, last_image=args.last_image,
        frames=args.frames, duration=args.duration, fps=args.fps, resolution=args.resolution,
        ratio=args.ratio, seed=args.seed, steps=args.steps, guidance=args.guidance,
        camera_fixed=args.camera_fixed,
    )
    plan(request, model_config(args.model))  # reject bad input before loading any weights
    output = check_output_path(args.output) if args.output else default_output(args.prompt, args.seed)
    if args.decode_chunk is not None and args.decode_chunk < 1:
        raise InvalidRequestError("decode_chunk", f"must be at least 1 latent frame, got {args.decode_chunk}")
    pipeline = SeedancePipeline(load_model(args.model), device=args.device, thin_decoder=args.thin_decoder,
                                compile=args.compile, decode_chunk=args.decode_chunk)
    bars = StageBars(enabled=not args.quiet)
    try:
        result = pipeline.generate(request, progress=bars)
    finally:
        bars.close()
    paths = save_result(result, output)
    m = result.metadata
    total = sum(result.timings.values())
    print(f"wrote {paths.video} ({m['width']}x{m['height']}, {m['frames']} frames @ {m['fps']} fps, "
          f"seed {m['seed']}, {total:.1f} s)")
    print(f"      {paths.metadata} (metadata), {paths.contact_sheet} (contact sheet)"
          + (f", {paths.preview} (base-resolution preview)" if paths.preview else ""))
    return 0
