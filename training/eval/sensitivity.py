"""Caption sensitivity: does the DiT read each attribute word of its caption?

For fresh single-shot ShapesWorld clips (rendered at the model's base size and encoded by its
VAE), the DiT's flow-matching loss with the clip's own caption is compared with its loss under a
caption that changes exactly one attribute (the corruptions the rewriter's DPO pairs use), with
the same noise and noise levels. A DiT that uses the word predicts worse under the wrong caption:
gap = loss(wrong) - loss(right) > 0. A gap near zero means it ignores the word, and no amount of
sampling will make its videos follow it. Cheap (a few forward passes per clip), so it is the
check to run before spending a long training run (docs/TRAINING.md, session 7).

The loss gap is an average over every token, and a subject covers a few percent of them, so a
direction gap is small even for a DiT that reads the word. `steering` asks the direct question
for the signed motion words (subject direction, camera pan; docs/TRAINING.md, session 8): does
reversing the word change where the DiT's estimate of the clean video moves things?
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from seedance.model.conditioning import pack_captions, stack_text
from seedance.model.dit import TextTokens, build_task_input
from seedance.model.flow import flow_matching_loss, interpolate
from seedance.model.pipeline import SeedancePipeline
from seedance.training.data.shapesworld import (
    ClipSpec,
    clip_caption,
    i2v_caption,
    render,
    wrong_rewrites,
)
from seedance.training.data.shapesworld.mirror import MIRROR_CAMERA
from seedance.training.eval.ceiling import ground_truth_clips

# What each task's caption states (an I2V caption only describes the motion and the camera).
ATTRIBUTES = {"t2v": ("color", "shape", "size", "direction", "camera"), "i2v": ("direction", "camera")}
NOISE_LEVELS = (0.5, 0.7, 0.9)
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
OPPOSITE_PAN = MIRROR_CAMERA  # a pan seen in a mirror is the opposite pan
STEERING_NOISE = (0.7, 0.9)  # where sampling decides the motion: the input shows little of it


def _caption_batch(pipeline: SeedancePipeline, captions: list[str]) -> TextTokens:
    """One caption per batch row, each packed on its own, as the DiT reads them."""
    emb = pipeline.bundle.text_encoder.encode(captions)
    dtype = next(pipeline.bundle.dit.parameters()).dtype
    return stack_text([pack_captions(emb.hidden[i:i + 1].float().cpu(), emb.mask[i:i + 1].cpu())
                       for i in range(len(captions))]).to(pipeline.device, dtype)


def _given(rows: int, frames: int, i2v: bool) -> torch.Tensor:
    """[rows, frames] task mask: 1 on the first latent frame for I2V (its clean latent is the condition)."""
    given = torch.zeros(rows, frames)
    given[:, 0] = float(i2v)
    return given


def _predict(pipeline: SeedancePipeline, x0: torch.Tensor, level: float, text: TextTokens, i2v: bool,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DiT's velocity for clip x0 [1, C, T, H, W] at noise `level` under each caption row of
    `text`, all with the same noise draw: (x_t, target velocity, predicted velocity), float32 on CPU."""
    dit = pipeline.bundle.dit
    dtype = next(dit.parameters()).dtype
    rows = text.hidden.shape[0]
    clean = x0.expand(rows, -1, -1, -1, -1)
    noise = torch.randn(x0.shape, generator=gen).expand_as(clean)  # shared by every caption
    times = torch.full((rows,), level)
    xt, target = interpolate(clean, noise, times)
    inp = build_task_input(xt, clean, _given(rows, x0.shape[2], i2v)).to(pipeline.device, dtype)
    return xt, target, dit(inp, times.to(pipeline.device, dtype), text).float().cpu()


@torch.no_grad()
def caption_sensitivity(pipeline: SeedancePipeline, count: int = 24, seed: int = 0,
                        lang: str = "en") -> dict[str, Any]:
    """Mean loss with the right caption, with the empty one, and per attribute with it changed
    (and the gap to the right caption), for T2V and I2V, over `count` clips x NOISE_LEVELS."""
    specs = ground_truth_clips(pipeline, count, seed)
    gen = torch.Generator().manual_seed(seed)
    sums: dict[str, dict[str, float]] = {task: {} for task in ATTRIBUTES}
    for spec in specs:
        x0 = pipeline.encode_frames(render(spec)).float().cpu()
        for task, attributes in ATTRIBUTES.items():
            right = clip_caption(spec, lang) if task == "t2v" else i2v_caption(spec, lang)
            wrong = {w.attribute: w.text for w in wrong_rewrites(spec, lang, task) if w.attribute in attributes}
            names = ["right", *wrong, "empty"]
            text = _caption_batch(pipeline, [right, *wrong.values(), ""])
            weight = (1.0 - _given(len(names), x0.shape[2], task == "i2v"))[:, None, :, None, None]
            for level in NOISE_LEVELS:
                _, target, velocity = _predict(pipeline, x0, level, text, task == "i2v", gen)
                for k, name in enumerate(names):
                    loss = flow_matching_loss(velocity[k:k + 1], target[k:k + 1], weight[k:k + 1]).item()
                    sums[task][name] = sums[task].get(name, 0.0) + loss
    samples = count * len(NOISE_LEVELS)
    report: dict[str, Any] = {"clips": count, "seed": seed, "lang": lang, "noise_levels": list(NOISE_LEVELS)}
    for task, attributes in ATTRIBUTES.items():
        mean = {k: v / samples for k, v in sums[task].items()}
        report[task] = {"right": round(mean["right"], 5), "empty": round(mean["empty"], 5),
                        "gap": {a: round(mean[a] - mean["right"], 5) for a in attributes if a in mean}}
    report["steering"] = steering(pipeline, count, seed, lang)
    return report


def _flipped(spec: ClipSpec, word: str) -> ClipSpec:
    """The same clip with its subject direction or its camera pan reversed."""
    shot = spec.shots[0]
    if word == "direction":
        shot = dataclasses.replace(shot, motion=dataclasses.replace(shot.motion, direction=OPPOSITE[shot.motion.direction]))
    else:
        shot = dataclasses.replace(shot, camera=OPPOSITE_PAN[shot.camera])
    return dataclasses.replace(spec, shots=[shot])


def steering_coefficient(x0: torch.Tensor, right: torch.Tensor, reversed_: torch.Tensor) -> float:
    """<right - reversed, m> / <m, m> over the frames after the first, m being clip x0's own motion
    pattern (its latent minus its mean over those frames); all [1, C, T, H, W]."""
    motion = x0[:, :, 1:] - x0[:, :, 1:].mean(2, keepdim=True)
    diff = (right - reversed_)[:, :, 1:]
    return float((diff * motion).sum() / (motion * motion).sum().clamp(min=1e-8))


@torch.no_grad()
def steering(pipeline: SeedancePipeline, count: int = 24, seed: int = 0, lang: str = "en") -> dict[str, Any]:
    """Does a signed motion word steer the DiT? For `count` I2V clips per word (subject moving
    left/right/up/down under a fixed camera; camera panning left/right), the DiT's clean-video
    estimate x0_hat = x_t - t*v is taken with the right caption and with the word reversed (same
    noise), and the difference is projected on the clip's own motion pattern m (its latent minus
    its mean over the frames after the first): coefficient <x0_hat(right) - x0_hat(reversed), m>
    / <m, m>. 0 = the word changes nothing about where things move; a DiT that follows it gets a
    clearly positive value (up to ~1-2). Latent space, so no decoder or analyzer noise."""
    pools = {"direction": (lambda s: s.shots[0].motion.direction in OPPOSITE, {"static_share": 0.0, "camera_share": 0.0}),
             "camera": (lambda s: s.shots[0].camera in OPPOSITE_PAN, {"camera_share": 1.0})}
    gen = torch.Generator().manual_seed(seed)
    report: dict[str, Any] = {"clips": count, "noise_levels": list(STEERING_NOISE)}
    for word, (keep, shares) in pools.items():
        coefficients: dict[float, list[float]] = {t: [] for t in STEERING_NOISE}
        for spec in ground_truth_clips(pipeline, count, seed, keep=keep, **shares):
            x0 = pipeline.encode_frames(render(spec)).float().cpu()
            text = _caption_batch(pipeline, [i2v_caption(spec, lang), i2v_caption(_flipped(spec, word), lang)])
            for level in STEERING_NOISE:
                xt, _, velocity = _predict(pipeline, x0, level, text, True, gen)
                estimate = xt - level * velocity
                coefficients[level].append(steering_coefficient(x0, estimate[:1], estimate[1:]))
        report[word] = {str(t): round(float(np.mean(v)), 4) for t, v in coefficients.items()}
    return report


def format_sensitivity(report: dict[str, Any]) -> str:
    lines = [f"caption sensitivity ({report['clips']} clips, {report['lang']}): loss with a wrong attribute "
             f"minus loss with the right caption (~0 = the DiT ignores that word)"]
    for task in ATTRIBUTES:
        r = report[task]
        gaps = "  ".join(f"{a} {g:+.4f}" for a, g in r["gap"].items())
        lines.append(f"  {task}: right {r['right']:.4f}  empty {r['empty'] - r['right']:+.4f}  {gaps}")
    st = report["steering"]
    lines.append(f"steering ({st['clips']} I2V clips per word): how far reversing the word moves the DiT's "
                 f"clean-video estimate along the clip's motion (0 = not at all, ~1 = fully)")
    for word in ("direction", "camera"):
        lines.append(f"  {word}: " + "  ".join(f"t={t} {c:+.3f}" for t, c in st[word].items()))
    return "\n".join(lines)
