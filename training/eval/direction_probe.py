"""Direction probe: can a fresh DiT learn a signed motion word, and through which path?

An isolation experiment (docs/TRAINING.md, session 9). It trains a freshly initialised DiT of a
model's shape on image-to-video only, on real VAE latents of single-shot, fixed-camera ShapesWorld
clips whose subject moves left, right, up or down, and reports `steering` (see sensitivity.py:
how far reversing the direction word moves the DiT's clean-video estimate along the clip's own
motion; 0 = not at all, ~1 = fully) on held-out clips every `eval_every` steps. Variants:

- `joint`: the caption reaches the video only through the spatial layers' joint attention;
- `pooled`: the same plus the attention-pooled caption in the adaLN conditioning (`pooled_text`);
- `summed`: the same plus the sum-pooled caption (`text_pool = "sum"`: each token through a
  shared MLP, summed) in the adaLN conditioning;
- `oracle`: joint attention plus the true direction as a learned embedding added to the adaLN
  conditioning: what the video side can do with the word once it has it, whatever the text path.

`--text-layer` picks the text encoder layer the captions are embedded from (-1 = the last, as the
model's config says by default; 0 = the token embeddings). `--temporal-window W` gives the temporal
layers W x W spatial windows instead of the model's (session 12: 8 x 8, the whole 64px latent,
learned the word ~2.5x faster than 4 x 4). `--sample` ends the run by generating each held-out clip
from its first frame and caption (the model's sampler: 12 Euler steps, guidance 7, shift 3 for the
embedded model) and reading the direction back with the analyzer. Not part of the test suite's budget: on 2 CPU cores 1,000 steps take about 6 minutes.

Run: python -m seedance.training.eval.direction_probe --variant summed --text-layer 0 --steps 1500 \
         --temporal-window 8 --sample
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seedance.model.bundle import EMBEDDED_DIR, ModelBundle, load_bundle
from seedance.model.conditioning import (
    frames_to_video_tensor,
    pack_captions,
    stack_text,
    video_tensor_to_frames,
)
from seedance.model.dit import SeedanceDiT, TextTokens, build_task_input
from seedance.model.flow import (
    euler_sample,
    flow_matching_loss,
    guided,
    interpolate,
    pin_given,
    sample_training_timesteps,
    sampling_schedule,
)
from seedance.training.data.shapesworld import ClipSpec, i2v_caption, render
from seedance.training.data.shapesworld.analyzer import analyze_shot
from seedance.training.data.shapesworld.sampling import sample_clip
from seedance.training.eval.sensitivity import OPPOSITE, STEERING_NOISE, _flipped, steering_coefficient

VARIANTS = ("joint", "pooled", "summed", "oracle")
DIRECTIONS = tuple(OPPOSITE)  # left, right, up, down


@dataclasses.dataclass
class ProbeSet:
    latents: torch.Tensor  # [N, C, T, H, W]
    captions: list[TextTokens]  # the clip's I2V caption, one packed row per clip
    reversed: list[TextTokens]  # the same caption with the direction reversed
    directions: torch.Tensor  # [N] index into DIRECTIONS
    empty: TextTokens  # the empty caption (classifier-free guidance dropout)


@torch.no_grad()
def make_set(bundle: ModelBundle, count: int, seed: int, text_layer: int, lang: str = "en") -> ProbeSet:
    """`count` moving, fixed-camera, single-shot clips at the model's base size, encoded once."""
    rng = np.random.default_rng(seed)
    specs: list[ClipSpec] = []
    while len(specs) < count:
        spec = sample_clip(rng, multishot_share=0.0, static_share=0.0, camera_share=0.0)
        if spec.shots[0].motion.direction in OPPOSITE:
            specs.append(spec)
    vae = bundle.vae
    latents = torch.cat([vae.normalize(vae.encode(torch.cat([frames_to_video_tensor(render(s)) for s in specs[i:i + 16]])).mode())
                         for i in range(0, count, 16)]).float()
    text_encoder = bundle.text_encoder
    own_cfg = text_encoder.cfg
    text_encoder.cfg = dataclasses.replace(own_cfg, hidden_layer=text_layer)  # restored below

    def packed(texts: list[str]) -> list[TextTokens]:
        emb = text_encoder.encode(texts)
        return [pack_captions(emb.hidden[i:i + 1].float(), emb.mask[i:i + 1]) for i in range(len(texts))]

    try:
        return ProbeSet(latents, packed([i2v_caption(s, lang) for s in specs]),
                        packed([i2v_caption(_flipped(s, "direction"), lang) for s in specs]),
                        torch.tensor([DIRECTIONS.index(s.shots[0].motion.direction) for s in specs]), packed([""])[0])
    finally:
        text_encoder.cfg = own_cfg


class OracleTime(nn.Module):
    """The timestep embedding plus a learned embedding of the true direction (set before each call)."""

    def __init__(self, time_embed: nn.Module, dim: int):
        super().__init__()
        self.time_embed = time_embed
        self.direction = nn.Embedding(len(DIRECTIONS), dim)
        nn.init.normal_(self.direction.weight, std=0.5)
        self.current: torch.Tensor | None = None

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_embed(t) + self.direction(self.current)


def build_probe_dit(bundle: ModelBundle, variant: str, temporal_window: int | None = None) -> SeedanceDiT:
    """A fresh DiT of the bundle's shape for `variant`; `temporal_window` overrides its windows."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: must be one of {', '.join(VARIANTS)}, got {variant!r}")
    cfg = dataclasses.replace(bundle.config.dit, pooled_text=variant in ("pooled", "summed"),
                              text_pool="sum" if variant == "summed" else "attention")
    if temporal_window is not None:
        cfg = dataclasses.replace(cfg, temporal_window=(temporal_window, temporal_window))
    torch.manual_seed(0)
    dit = SeedanceDiT(cfg)
    if variant == "oracle":
        dit.time_embed = OracleTime(dit.time_embed, dit.cfg.hidden_size)
    return dit


def _set_direction(dit: SeedanceDiT, directions: torch.Tensor) -> None:
    if isinstance(dit.time_embed, OracleTime):
        dit.time_embed.current = directions


@torch.no_grad()
def probe_steering(dit: SeedanceDiT, data: ProbeSet, seed: int = 0) -> dict[str, float]:
    """sensitivity.steering's coefficient for each held-out clip, averaged per noise level."""
    gen = torch.Generator().manual_seed(seed)
    dit.eval()
    sums = {t: 0.0 for t in STEERING_NOISE}
    for i in range(len(data.latents)):
        x0 = data.latents[i:i + 1]
        text = stack_text([data.captions[i], data.reversed[i]])
        _set_direction(dit, torch.stack([data.directions[i], data.directions[i] ^ 1]))  # left<->right, up<->down
        clean = x0.expand(2, -1, -1, -1, -1)
        given = torch.zeros(2, x0.shape[2])
        given[:, 0] = 1.0
        for level in STEERING_NOISE:
            noise = torch.randn(x0.shape, generator=gen).expand_as(clean)
            t = torch.full((2,), level)
            xt, _ = interpolate(clean, noise, t)
            estimate = xt - level * dit(build_task_input(xt, clean, given), t, text)
            sums[level] += steering_coefficient(x0, estimate[:1], estimate[1:])
    dit.train()
    return {str(t): round(s / len(data.latents), 4) for t, s in sums.items()}


@torch.no_grad()
def sampled_directions(dit: SeedanceDiT, bundle: ModelBundle, data: ProbeSet, seed: int = 0) -> dict[str, Any]:
    """Generate each clip from its first latent frame and caption (I2V, the given frame pinned; the
    bundle's sampler steps, guidance and shift) and read the direction back from the decoded frames:
    {correct, total, found: {direction: count}}."""
    gen = torch.Generator().manual_seed(seed)
    sampler = bundle.config.sampler
    dit.eval()
    found: dict[str, int] = {}
    correct = 0
    for i in range(len(data.latents)):
        x0 = data.latents[i:i + 1]
        given = torch.zeros(1, x0.shape[2])
        given[:, 0] = 1.0
        text = stack_text([data.captions[i], data.empty])
        _set_direction(dit, data.directions[i].repeat(2))

        def velocity(x: torch.Tensor, t: torch.Tensor, both: bool, x0=x0, given=given, text=text) -> torch.Tensor:
            inp = build_task_input(x, x0, given)
            return dit(torch.cat([inp, inp]), torch.cat([t, t]), text)

        noise = torch.randn(x0.shape, generator=gen)
        latents = euler_sample(pin_given(guided(velocity, sampler.guidance), noise, x0, given), noise,
                               sampling_schedule(sampler.steps, sampler.shift))
        direction = analyze_shot(video_tensor_to_frames(bundle.vae.decode(bundle.vae.denormalize(latents)))).direction
        found[direction] = found.get(direction, 0) + 1
        correct += direction == DIRECTIONS[int(data.directions[i])]
    dit.train()
    return {"correct": correct, "total": len(data.latents), "found": found}


def train_probe(dit: SeedanceDiT, train: ProbeSet, held_out: ProbeSet, steps: int, batch: int = 8, lr: float = 3e-4,
                eval_every: int = 250, log=print) -> list[dict[str, Any]]:
    """I2V flow matching (first latent frame given, out of the loss), 10% empty captions; returns
    the steering history [{step, loss, steering}]."""
    opt = torch.optim.AdamW(dit.parameters(), lr=lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(1)
    history, losses, start = [], [], time.perf_counter()
    for step in range(1, steps + 1):
        idx = torch.randint(len(train.latents), (batch,), generator=gen)
        x0 = train.latents[idx]
        drop = torch.rand(batch, generator=gen) < 0.1
        text = stack_text([train.empty if drop[k] else train.captions[i] for k, i in enumerate(idx.tolist())])
        _set_direction(dit, train.directions[idx])
        given = torch.zeros(batch, x0.shape[2])
        given[:, 0] = 1.0
        times = sample_training_timesteps(batch, 1.0, generator=gen)
        xt, target = interpolate(x0, torch.randn(x0.shape, generator=gen), times)
        loss = flow_matching_loss(dit(build_task_input(xt, x0, given), times, text), target,
                                  (1 - given)[:, None, :, None, None])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            row = {"step": step, "loss": round(float(np.mean(losses[-eval_every:])), 4),
                   "steering": probe_steering(dit, held_out), "seconds": round(time.perf_counter() - start)}
            history.append(row)
            log(json.dumps(row))
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seedance.training.eval.direction_probe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(EMBEDDED_DIR), help="model directory (VAE, text encoder, DiT shape)")
    parser.add_argument("--variant", choices=VARIANTS, default="pooled")
    parser.add_argument("--text-layer", type=int, default=-1, help="text encoder layer (-1 = last, 0 = token embeddings)")
    parser.add_argument("--clips", type=int, default=1024, help="training clips")
    parser.add_argument("--held-out", type=int, default=32, help="held-out clips for steering")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--temporal-window", type=int, help="temporal layers' spatial window side (default: the model's)")
    parser.add_argument("--sample", action="store_true", help="finish by generating the held-out clips (I2V) "
                                                               "and reading their direction with the analyzer")
    parser.add_argument("--out", help="write the history here as JSON")
    args = parser.parse_args(argv)
    for name in ("clips", "held_out", "steps", "eval_every", "temporal_window"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be at least 1")
    bundle = load_bundle(Path(args.model))
    train = make_set(bundle, args.clips, seed=1, text_layer=args.text_layer)
    held_out = make_set(bundle, args.held_out, seed=999, text_layer=args.text_layer)
    dit = build_probe_dit(bundle, args.variant, args.temporal_window)
    report: dict[str, Any] = {"args": vars(args),
                              "history": train_probe(dit, train, held_out, args.steps, eval_every=args.eval_every)}
    if args.sample:
        report["sampled"] = sampled_directions(dit, bundle, held_out)
        print(json.dumps({"sampled": report["sampled"]}))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
