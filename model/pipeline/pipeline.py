"""The in-process pipeline: prompt -> rewrite -> encode -> denoise -> decode -> [refine] -> frames.

Each stage is a method with explicit inputs and outputs, mirroring the gRPC stage services; the
denoise loop itself is the pure `euler_sample` in flow.py. `generate` only sequences the stages,
times them, and reports progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import seedance
from seedance.errors import InvalidRequestError
from seedance.model.bundle import ModelBundle
from seedance.model.conditioning import (
    frame_shots,
    frames_to_video_tensor,
    pack_captions,
    shot_pixel_range,
    stack_text,
    video_tensor_to_frames,
)
from seedance.model.dit import SeedanceDiT, TextTokens, build_task_input
from seedance.model.dit.compile import autocast
from seedance.model.flow import euler_sample, guided, pin_given, resolution_shift, sampling_schedule
from seedance.model.media import fit_image
from seedance.model.pipeline.request import GenerationRequest, Plan, plan
from seedance.model.rewriter import Rewriter, RewriteResult, build_rewriter
from seedance.model.vae import CausalVAE

STAGES = ("rewrite", "encode", "denoise", "decode", "refine", "refine_decode")


@dataclass(frozen=True)
class Progress:
    stage: str  # one of STAGES
    step: int
    total: int


ProgressFn = Callable[[Progress], None]


@dataclass
class GenerationResult:
    frames: np.ndarray  # uint8 [T, H, W, 3], the final video
    preview: np.ndarray | None  # the base-resolution video when the refiner ran
    plan: Plan
    captions: list[RewriteResult]
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class SeedancePipeline:
    def __init__(self, bundle: ModelBundle, rewriter: Rewriter | None = None, device: str | torch.device = "cpu",
                 thin_decoder: bool = False, compile: bool = False, decode_chunk: int | None = None,
                 autocast: bool = True):
        """Fast paths (each keeps the output within a tested tolerance of the plain path):
        `compile` compiles the DiT's and refiner's repeated blocks in place (regional
        torch.compile, model/dit/compile.py; the bundle's modules are changed); `decode_chunk`
        decodes that many latent frames at a time with a causal cache (bounded memory, same
        output up to float rounding); `autocast` runs the denoiser in bf16 on CUDA only (a
        no-op on CPU)."""
        self.bundle = bundle.eval()
        self.config = bundle.config
        self.device = torch.device(device)
        for module in bundle.components().values():
            module.to(self.device)
        self.rewriter = rewriter or build_rewriter(self.config.rewriter,
                                                   None if bundle.source.startswith("random") else bundle.source)
        self.decoder_vae = bundle.thin_vae.to(self.device) if thin_decoder and bundle.thin_vae else bundle.vae
        if decode_chunk is not None and decode_chunk < 1:
            raise InvalidRequestError("decode_chunk", f"must be at least 1 latent frame, got {decode_chunk}")
        self.decode_chunk = decode_chunk
        self.autocast = autocast
        self.compiled = compile
        if compile:
            from seedance.model.dit.compile import compile_blocks

            for dit in (bundle.dit, bundle.refiner):
                if dit is not None:
                    compile_blocks(dit)

    # -- stages ---------------------------------------------------------------------------------
    def rewrite(self, p: Plan) -> list[RewriteResult]:
        """One dense caption per shot. I2V rewrites describe motion, not the given first frame."""
        return [
            self.rewriter.rewrite(prompt, task="i2v" if (p.task == "i2v" and i == 0) else "t2v",
                                  camera_fixed=p.camera_fixed)
            for i, prompt in enumerate(p.prompts)
        ]

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> tuple[TextTokens, TextTokens]:
        """Packed caption tokens, and the unconditional ones (an empty caption per shot)."""
        enc = self.bundle.text_encoder
        cond = enc.encode(captions)
        uncond = enc.encode([""] * len(captions))
        return (pack_captions(cond.hidden.cpu(), cond.mask.cpu()).to(self.device),
                pack_captions(uncond.hidden.cpu(), uncond.mask.cpu()).to(self.device))

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> Tensor:
        """uint8 [T, H, W, 3] -> normalised latent mean [1, C, t, h, w]."""
        vae = self.bundle.vae
        video = frames_to_video_tensor(frames).to(self.device)
        return vae.normalize(vae.encode(video).mode())

    @torch.no_grad()
    def encode_upsampled(self, frames: np.ndarray, width: int, height: int) -> Tensor:
        """The refiner's extra input: the base video upsampled (trilinear) to width x height, encoded."""
        video = frames_to_video_tensor(frames).to(self.device)
        up = F.interpolate(video, size=(video.shape[2], height, width), mode="trilinear", align_corners=False)
        return self.bundle.vae.normalize(self.bundle.vae.encode(up).mode())

    def condition(self, p: Plan, latent_shape: tuple[int, ...], width: int, height: int) -> tuple[Tensor, Tensor]:
        """Clean latents of the given frames and the frame mask [1, T]: first (I2V), last, or none."""
        cond = torch.zeros(latent_shape, device=self.device)
        mask = torch.zeros(1, latent_shape[2], device=self.device)
        for image, index in ((p.first_image, 0), (p.last_image, -1)):
            if image is not None:
                cond[:, :, index] = self.encode_frames(fit_image(image, width, height)[None])[:, :, 0]
                mask[:, index] = 1.0
        return cond, mask

    @torch.no_grad()
    def denoise(self, dit: SeedanceDiT, num_shots: int, text: tuple[TextTokens, TextTokens], noise: Tensor,
                cond: Tensor, mask: Tensor, steps: int, guidance: float, extra: Tensor | None = None,
                progress: Callable[[int, int, Tensor], None] | None = None) -> Tensor:
        """Sample a normalised latent with CFG; the text embeddings are computed once, outside.
        The latent frames are split evenly between `num_shots` captions; given frames (`mask`)
        come out as `cond` (flow.pin_given)."""
        shots = frame_shots(noise.shape[2], num_shots).to(self.device)[None]
        both = stack_text(list(text))

        def velocity(x: Tensor, t: Tensor, cfg_pair: bool) -> Tensor:
            inp = build_task_input(x, cond, mask, extra)
            with autocast(self.device, self.autocast):  # bf16 on CUDA only; no-op elsewhere
                if not cfg_pair:
                    return dit(inp, t, text[0], shots).float()
                return dit(torch.cat([inp, inp]), torch.cat([t, t]), both, torch.cat([shots, shots])).float()

        tokens = noise.shape[2] * noise.shape[3] * noise.shape[4]
        # The refiner is the one denoiser that takes `extra` (the upsampled base video).
        schedule = sampling_schedule(steps, resolution_shift(tokens, self.config.sampler, refiner=extra is not None))
        return euler_sample(pin_given(guided(velocity, guidance), noise, cond, mask), noise, schedule, progress)

    @torch.no_grad()
    def decode(self, latent: Tensor, vae: CausalVAE | None = None) -> np.ndarray:
        """Normalised latent -> uint8 frames, with `vae` (default: the pipeline's decoder)."""
        vae = vae or self.decoder_vae
        z = vae.denormalize(latent)
        video = vae.decode(z) if self.decode_chunk is None else vae.decode_chunked(z, self.decode_chunk)
        return video_tensor_to_frames(video)

    # -- driver -----------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 on_preview: Callable[[np.ndarray], None] | None = None) -> GenerationResult:
        report = progress or (lambda _: None)
        timings: dict[str, float] = {}
        p = plan(request, self.config)

        def timed(stage: str, fn: Callable[[], Any]) -> Any:
            start = time.perf_counter()
            out = fn()
            timings[stage] = round(time.perf_counter() - start, 4)
            return out

        report(Progress("rewrite", 0, len(p.prompts)))
        captions = timed("rewrite", lambda: self.rewrite(p))
        report(Progress("rewrite", len(p.prompts), len(p.prompts)))
        text = timed("encode", lambda: self.encode_text([c.caption for c in captions]))
        report(Progress("encode", 1, 1))

        gen = torch.Generator().manual_seed(p.seed)
        c, t, h, w = self.bundle.vae.latent_shape(p.frames, p.base_height, p.base_width)
        noise = torch.randn((1, c, t, h, w), generator=gen).to(self.device)
        cond, mask = self.condition(p, noise.shape, p.base_width, p.base_height)
        on_step = lambda s, n, _x: report(Progress("denoise", s, n))  # noqa: E731
        latent = timed("denoise", lambda: self.denoise(self.bundle.dit, len(p.prompts), text, noise, cond, mask, p.steps,
                                                        p.guidance, progress=on_step))
        frames = timed("decode", lambda: self.decode(latent))
        report(Progress("decode", 1, 1))
        preview = None
        if p.refine:
            preview = frames
            if on_preview is not None:
                on_preview(preview)
            frames = self.refine(p, preview, text, gen, timings, report)

        result = GenerationResult(frames, preview, p, captions, timings)
        result.metadata = self.metadata(result)
        return result

    def refine(self, p: Plan, base: np.ndarray, text: tuple[TextTokens, TextTokens], gen: torch.Generator,
               timings: dict[str, float], report: ProgressFn) -> np.ndarray:
        """Upsample the base video, encode it, and denoise at the target size conditioned on it."""
        refiner = self.bundle.refiner
        if refiner is None:
            raise RuntimeError("this model has no refiner")
        start = time.perf_counter()
        low_res = self.encode_upsampled(base, p.width, p.height)
        noise = torch.randn(low_res.shape, generator=gen).to(self.device)
        cond, mask = self.condition(p, noise.shape, p.width, p.height)
        on_step = lambda s, n, _x: report(Progress("refine", s, n))  # noqa: E731
        sampler = self.config.sampler
        latent = self.denoise(refiner, len(p.prompts), text, noise, cond, mask, p.refine_steps, sampler.refine_guidance,
                              extra=low_res, progress=on_step)
        timings["refine"] = round(time.perf_counter() - start, 4)
        frames = self.decode(latent)
        timings["refine_decode"] = round(time.perf_counter() - start - timings["refine"], 4)
        report(Progress("refine_decode", 1, 1))
        return frames

    def metadata(self, r: GenerationResult) -> dict[str, Any]:
        p = r.plan
        latent_frames = self.config.vae.latent_frames(p.frames)
        shots = frame_shots(latent_frames, len(p.prompts))
        shot_frames = [shot_pixel_range(shots, s, self.config.vae.temporal_compression) for s in range(len(p.prompts))]
        return {
            "seedance_version": seedance.__version__,
            "model": {"name": self.config.name, "source": self.bundle.source},
            "task": p.task,
            "prompts": p.prompts,
            "captions": [c.caption for c in r.captions],
            "rewriter": r.captions[0].backend if r.captions else None,
            "language": [c.language for c in r.captions],
            "shots": [{"prompt": pr, "frames": fr} for pr, fr in zip(p.prompts, shot_frames, strict=True)],
            "seed": p.seed,
            "width": p.width, "height": p.height, "frames": p.frames, "fps": p.fps,
            "duration_s": round(p.duration, 4),
            "resolution": p.resolution, "ratio": p.ratio,
            "base_size": [p.base_width, p.base_height], "refined": p.refine,
            "steps": p.steps, "guidance": p.guidance, "refine_steps": p.refine_steps if p.refine else None,
            "camera_fixed": p.camera_fixed,
            "device": str(self.device),
            "fast_paths": {"compile": self.compiled, "decode_chunk": self.decode_chunk,
                           "thin_decoder": self.decoder_vae is not self.bundle.vae,
                           "bf16_autocast": self.autocast and self.device.type == "cuda"},
            "timings_s": dict(r.timings),
        }
