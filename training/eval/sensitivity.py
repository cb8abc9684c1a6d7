"""Caption sensitivity: does the DiT read each attribute word of its caption?

For fresh single-shot ShapesWorld clips (rendered at the model's base size and encoded by its
VAE), the DiT's flow-matching loss with the clip's own caption is compared with its loss under a
caption that changes exactly one attribute (the corruptions the rewriter's DPO pairs use), with
the same noise and noise levels. A DiT that uses the word predicts worse under the wrong caption:
gap = loss(wrong) - loss(right) > 0. A gap near zero means it ignores the word, and no amount of
sampling will make its videos follow it. Cheap (a few forward passes per clip), so it is the
check to run before spending a long training run (docs/TRAINING.md, session 7).

The loss gap is an average over every token, and a subject covers a few percent of them, so a
direction gap is small even for a DiT that reads the word. `direction_steering` asks the direct
question for motion (docs/TRAINING.md, session 8): does the word change where the DiT's estimate
of the clean video moves the subject?
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from seedance.model.conditioning import pack_captions, stack_text
from seedance.model.dit import build_task_input
from seedance.model.flow import flow_matching_loss, interpolate
from seedance.model.pipeline import SeedancePipeline
from seedance.training.data.shapesworld import (
    ClipSpec,
    analyze,
    clip_caption,
    i2v_caption,
    render,
    wrong_rewrites,
)
from seedance.training.eval.ceiling import ground_truth_clips

# What each task's caption states (an I2V caption only describes the motion and the camera).
ATTRIBUTES = {"t2v": ("color", "shape", "size", "direction", "camera"), "i2v": ("direction", "camera")}
NOISE_LEVELS = (0.5, 0.7, 0.9)
# Screen-space unit vectors (y grows downward) and each direction's opposite.
DIRECTION_UNIT = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
STEERING_NOISE = 0.9  # where sampling decides the motion: the input shows little of it


@torch.no_grad()
def caption_sensitivity(pipeline: SeedancePipeline, count: int = 24, seed: int = 0,
                        lang: str = "en") -> dict[str, Any]:
    """Mean loss with the right caption, with the empty one, and per attribute with it changed
    (and the gap to the right caption), for T2V and I2V, over `count` clips x NOISE_LEVELS."""
    specs = ground_truth_clips(pipeline, count, seed)
    gen = torch.Generator().manual_seed(seed)
    dit, encoder = pipeline.bundle.dit, pipeline.bundle.text_encoder
    dtype = next(dit.parameters()).dtype
    sums: dict[str, dict[str, float]] = {task: {} for task in ATTRIBUTES}
    for spec in specs:
        x0 = pipeline.encode_frames(render(spec)).float().cpu()
        for task, attributes in ATTRIBUTES.items():
            right = clip_caption(spec, lang) if task == "t2v" else i2v_caption(spec, lang)
            wrong = {w.attribute: w.text for w in wrong_rewrites(spec, lang, task) if w.attribute in attributes}
            names = ["right", *wrong, "empty"]
            emb = encoder.encode([right, *wrong.values(), ""])
            text = stack_text([pack_captions(emb.hidden[i:i + 1].float().cpu(), emb.mask[i:i + 1].cpu())
                               for i in range(len(names))]).to(pipeline.device, dtype)
            n, frames = len(names), x0.shape[2]
            given = torch.zeros(n, frames)
            given[:, 0] = float(task == "i2v")
            weight = (1.0 - given)[:, None, :, None, None]
            clean = x0.expand(n, -1, -1, -1, -1)
            for level in NOISE_LEVELS:
                noise = torch.randn(x0.shape, generator=gen).expand_as(clean)  # shared by every caption
                times = torch.full((n,), level)
                xt, target = interpolate(clean, noise, times)
                inp = build_task_input(xt, clean, given).to(pipeline.device, dtype)
                velocity = dit(inp, times.to(pipeline.device, dtype), text).cpu()
                for k, name in enumerate(names):
                    loss = flow_matching_loss(velocity[k:k + 1], target[k:k + 1], weight[k:k + 1]).item()
                    sums[task][name] = sums[task].get(name, 0.0) + loss
    samples = count * len(NOISE_LEVELS)
    report: dict[str, Any] = {"clips": count, "seed": seed, "lang": lang, "noise_levels": list(NOISE_LEVELS)}
    for task, attributes in ATTRIBUTES.items():
        mean = {k: v / samples for k, v in sums[task].items()}
        report[task] = {"right": round(mean["right"], 5), "empty": round(mean["empty"], 5),
                        "gap": {a: round(mean[a] - mean["right"], 5) for a in attributes if a in mean}}
    report["steering"] = direction_steering(pipeline, count, seed, lang)
    return report


def _with_direction(spec: ClipSpec, direction: str) -> ClipSpec:
    shot = spec.shots[0]
    return dataclasses.replace(spec, shots=[dataclasses.replace(shot, motion=dataclasses.replace(
        shot.motion, direction=direction))])


@torch.no_grad()
def direction_steering(pipeline: SeedancePipeline, count: int = 24, seed: int = 0, lang: str = "en") -> dict[str, Any]:
    """For `count` I2V clips moving left/right/up/down under a fixed camera, the subject's speed
    along the clip's direction (frame widths/s, by the analyzer) in: the clip itself, and the
    decoded clean-video estimate x0 = x_t - t*v at t = STEERING_NOISE with the right caption and
    with the opposite direction's caption (same noise). steer = right - opposite: about twice the
    clip's speed for a DiT that follows the word, ~0 when the motion it predicts comes from the
    noisy input alone."""
    specs = ground_truth_clips(pipeline, count, seed, keep=lambda s: s.shots[0].motion.direction in OPPOSITE,
                               static_share=0.0, camera_share=0.0)
    gen = torch.Generator().manual_seed(seed)
    dit, encoder = pipeline.bundle.dit, pipeline.bundle.text_encoder
    dtype = next(dit.parameters()).dtype
    speeds: dict[str, list[float]] = {"clip": [], "right": [], "opposite": []}

    def along(frames: np.ndarray, direction: str, fps: float) -> float:
        velocity = analyze(frames, fps=fps).shots[0].velocity or (0.0, 0.0)
        return float(np.dot(velocity, DIRECTION_UNIT[direction]))

    for spec in specs:
        direction = spec.shots[0].motion.direction
        frames = render(spec)
        speeds["clip"].append(along(frames, direction, spec.fps))
        x0 = pipeline.encode_frames(frames).float().cpu()
        captions = [i2v_caption(spec, lang), i2v_caption(_with_direction(spec, OPPOSITE[direction]), lang)]
        emb = encoder.encode(captions)
        text = stack_text([pack_captions(emb.hidden[i:i + 1].float().cpu(), emb.mask[i:i + 1].cpu())
                           for i in range(2)]).to(pipeline.device, dtype)
        clean = x0.expand(2, -1, -1, -1, -1)
        noise = torch.randn(x0.shape, generator=gen).expand_as(clean)
        times = torch.full((2,), STEERING_NOISE)
        xt, _ = interpolate(clean, noise, times)
        given = torch.zeros(2, x0.shape[2])
        given[:, 0] = 1.0
        velocity = dit(build_task_input(xt, clean, given).to(pipeline.device, dtype),
                       times.to(pipeline.device, dtype), text).float().cpu()
        estimate = xt - STEERING_NOISE * velocity
        for k, name in enumerate(("right", "opposite")):
            speeds[name].append(along(pipeline.decode(estimate[k:k + 1].to(pipeline.device)), direction, spec.fps))
    mean = {k: round(float(np.mean(v)), 4) for k, v in speeds.items()}
    return {"clips": count, "seed": seed, "lang": lang, "noise": STEERING_NOISE, **mean,
            "steer": round(mean["right"] - mean["opposite"], 4)}


def format_sensitivity(report: dict[str, Any]) -> str:
    lines = [f"caption sensitivity ({report['clips']} clips, {report['lang']}): loss with a wrong attribute "
             f"minus loss with the right caption (~0 = the DiT ignores that word)"]
    for task in ATTRIBUTES:
        r = report[task]
        gaps = "  ".join(f"{a} {g:+.4f}" for a, g in r["gap"].items())
        lines.append(f"  {task}: right {r['right']:.4f}  empty {r['empty'] - r['right']:+.4f}  {gaps}")
    if "steering" in report:
        st = report["steering"]
        lines.append(f"  i2v motion at t={st['noise']} along the clip's direction (frame widths/s): clip {st['clip']:+.3f}"
                     f"  right caption {st['right']:+.3f}  opposite caption {st['opposite']:+.3f}"
                     f"  steer {st['steer']:+.3f} (~0 = the direction word does not steer the motion)")
    return "\n".join(lines)
