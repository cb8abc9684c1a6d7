"""The VAE ceiling: how much of what ShapeBench scores survives the VAE alone.

ShapeBench reads attributes from decoded frames, so no DiT can score above what the analyzer
recovers from the VAE's reconstruction (encode, then decode with the decoder generation uses) of
a ground-truth ShapesWorld clip. This renders fresh single-shot clips at the model's base size,
reconstructs them, and scores the reconstructions against the clips' specs. The same clips
scored raw check the analyzer itself (it should be right on every one).

Each clip is read as one shot over all its frames, as ShapeBench reads a generation. (Until
session 13 the shot detector split it first; it cut reconstructions where their later frames
broke up and read only the clean start, which put the direction ceiling at 72% where the
whole-clip reading gave 9% on moving subjects.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from seedance.model.pipeline import GenerationRequest, SeedancePipeline, plan
from seedance.training.data.shapesworld import ClipSpec, analyze_shot, render, sample_clip

ATTRIBUTES = ("color", "shape", "size", "direction")


def _expected(spec: Any) -> dict[str, str]:
    subject = spec.subject
    return {"color": subject.color, "shape": subject.shape, "size": subject.size,
            "direction": spec.shots[0].motion.direction}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def ground_truth_clips(pipeline: SeedancePipeline, count: int, seed: int,
                       keep: Callable[[ClipSpec], bool] | None = None, **sampling: float) -> list[ClipSpec]:
    """`count` single-shot clips drawn like the training world's, at the model's base size and fps
    (`sampling`: sample_clip's share overrides; `keep`: only clips it accepts)."""
    if count < 1:
        raise ValueError(f"count: must be at least 1, got {count}")
    base = plan(GenerationRequest("ground-truth clips"), pipeline.config)
    rng = np.random.default_rng(seed)
    clips: list[ClipSpec] = []
    while len(clips) < count:
        spec = sample_clip(rng, multishot_share=0.0, frames=base.frames, width=base.base_width,
                           height=base.base_height, fps=base.fps, **sampling)
        if keep is None or keep(spec):
            clips.append(spec)
    return clips


@torch.no_grad()
def vae_ceiling(pipeline: SeedancePipeline, count: int = 32, seed: int = 0) -> dict[str, Any]:
    """Attribute accuracy of the analyzer on `count` clips, raw and through the VAE, and the
    reconstructions' PSNR. Clips are drawn like the training world's single-shot clips."""
    hits: dict[str, dict[str, list[bool]]] = {k: {a: [] for a in ATTRIBUTES} for k in ("raw", "decoded")}
    psnrs = []
    for spec in ground_truth_clips(pipeline, count, seed):
        frames = render(spec)
        latent = pipeline.encode_frames(frames)
        decoded = pipeline.decode(latent)
        psnrs.append(_psnr(frames, decoded))
        expected = _expected(spec)
        for kind, video in (("raw", frames), ("decoded", decoded)):
            found = analyze_shot(video, fps=spec.fps).__dict__
            for a in ATTRIBUTES:
                hits[kind][a].append(found.get(a) == expected[a])
    return {"clips": count, "seed": seed, "psnr_db": round(float(np.mean(psnrs)), 2),
            **{kind: {a: round(float(np.mean(v)), 4) for a, v in per.items()} for kind, per in hits.items()}}


def format_ceiling(report: dict[str, Any]) -> str:
    def row(kind: str) -> str:
        return "  ".join(f"{a} {report[kind][a]:.3f}" for a in ATTRIBUTES)

    return (f"vae ceiling ({report['clips']} ground-truth clips, reconstruction PSNR {report['psnr_db']:.1f} dB)\n"
            f"  through the VAE: {row('decoded')}\n  raw clips:       {row('raw')}")

