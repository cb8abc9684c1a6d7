"""What a user asks for (GenerationRequest) and its validated, fully resolved form (Plan).

`plan(request, config)` is the one place where request rules live; the CLI and the services
call it, and every violation is an InvalidRequestError naming the field and the rule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image

from seedance.errors import InvalidRequestError
from seedance.model.config import ModelConfig
from seedance.model.media import load_image
from seedance.model.pipeline.sizes import ADAPTIVE, RATIOS, closest_ratio, frame_size, frames_for_duration

MAX_PROMPT_CHARS = 2000
ImageInput = str | Image.Image | None


@dataclass
class GenerationRequest:
    """A generation request. None means "the model's default".

    `prompt` describes the first shot; each entry of `shots` adds a further shot with its own
    caption (native multi-shot). `image` / `last_image` are first / last frame conditions
    (a path or a PIL image). `seed` -1 or None = random (the chosen seed is reported).
    """

    prompt: str
    shots: list[str] = field(default_factory=list)
    image: ImageInput = None
    last_image: ImageInput = None
    frames: int | None = None
    duration: float | None = None
    fps: int | None = None
    resolution: str | None = None
    ratio: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    camera_fixed: bool = False
    refine_steps: int | None = None


@dataclass
class Plan:
    """A validated request with every default filled in."""

    prompts: list[str]  # one per shot
    task: str  # "t2v" | "i2v"
    width: int
    height: int
    base_width: int
    base_height: int
    frames: int
    fps: int
    resolution: str
    ratio: str
    seed: int
    steps: int
    guidance: float
    refine_steps: int
    camera_fixed: bool
    first_image: Image.Image | None  # the first-frame condition (I2V), fitted to size at use
    last_image: Image.Image | None

    @property
    def refine(self) -> bool:
        return (self.width, self.height) != (self.base_width, self.base_height)

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def _check_prompt(text: object, name: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(name, "must not be empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(name, f"must be at most {MAX_PROMPT_CHARS} characters, got {len(text)}")
    return text.strip()


def _frames(req: GenerationRequest, cfg: ModelConfig, fps: int) -> int:
    tc = cfg.vae.temporal_compression
    if req.frames is not None and req.duration is not None:
        raise InvalidRequestError("frames", "give frames or duration, not both")
    if req.duration is not None:
        if not 0 < req.duration <= cfg.video.max_frames / fps:
            raise InvalidRequestError(
                "duration", f"must be in (0, {cfg.video.max_frames / fps:g}] seconds at {fps} fps, got {req.duration}")
        return frames_for_duration(req.duration, fps, tc)
    frames = cfg.video.default_frames if req.frames is None else req.frames
    if frames < 1 or (frames - 1) % tc:
        raise InvalidRequestError("frames", f"must be 1 + {tc}k (e.g. {1 + tc * 4}, {1 + tc * 8}), got {frames}")
    if frames > cfg.video.max_frames:
        raise InvalidRequestError("frames", f"must be at most {cfg.video.max_frames}, got {frames}")
    return frames


def _image(value: ImageInput, name: str) -> Image.Image | None:
    if value is None:
        return None
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    return load_image(value, field=name)


def plan(req: GenerationRequest, cfg: ModelConfig) -> Plan:
    """Validate `req` against the model and resolve every default."""
    prompts = [_check_prompt(req.prompt, "prompt")]
    prompts += [_check_prompt(s, f"shots[{i}]") for i, s in enumerate(req.shots)]

    fps = cfg.video.default_fps if req.fps is None else req.fps
    if not 1 <= fps <= 60:
        raise InvalidRequestError("fps", f"must be in [1, 60], got {fps}")
    frames = _frames(req, cfg, fps)
    latent_frames = cfg.vae.latent_frames(frames)
    if len(prompts) > latent_frames:
        raise InvalidRequestError("shots", f"{len(prompts)} shots need at least {len(prompts)} latent frames "
                                           f"({cfg.vae.pixel_frames(len(prompts))} frames), got {frames}")

    image, last_image = _image(req.image, "image"), _image(req.last_image, "last_image")
    resolution = req.resolution or cfg.video.base_resolution
    if resolution not in cfg.video.resolutions:
        raise InvalidRequestError(
            "resolution", f"{resolution!r} is not supported by model {cfg.name!r}; choose one of "
                          f"{', '.join(cfg.video.resolutions)}")
    ratio = req.ratio or (ADAPTIVE if image is not None else cfg.video.default_ratio)
    if ratio == ADAPTIVE:
        ratio = closest_ratio(image.width, image.height) if image is not None else cfg.video.default_ratio
    elif ratio not in RATIOS:
        raise InvalidRequestError("ratio", f"unknown {ratio!r}; choose one of {', '.join(RATIOS)}, {ADAPTIVE}")
    mult = cfg.spatial_multiple
    width, height = frame_size(resolution, ratio, mult)
    base_w, base_h = frame_size(cfg.video.base_resolution, ratio, mult)

    steps = cfg.sampler.steps if req.steps is None else req.steps
    if not 1 <= steps <= 1000:
        raise InvalidRequestError("steps", f"must be in [1, 1000], got {steps}")
    refine_steps = cfg.sampler.refine_steps if req.refine_steps is None else req.refine_steps
    if not 1 <= refine_steps <= 1000:
        raise InvalidRequestError("refine_steps", f"must be in [1, 1000], got {refine_steps}")
    guidance = cfg.sampler.guidance if req.guidance is None else float(req.guidance)
    if not 0 <= guidance <= 50:
        raise InvalidRequestError("guidance", f"must be in [0, 50], got {guidance}")
    seed = req.seed if req.seed is not None and req.seed != -1 else random.SystemRandom().randrange(2**31)
    if not 0 <= seed < 2**63:
        raise InvalidRequestError("seed", f"must be -1 (random) or in [0, 2^63), got {seed}")

    return Plan(
        prompts=prompts, task="i2v" if image is not None else "t2v",
        width=width, height=height, base_width=base_w, base_height=base_h,
        frames=frames, fps=fps, resolution=resolution, ratio=ratio, seed=seed, steps=steps,
        guidance=guidance, refine_steps=refine_steps, camera_fixed=req.camera_fixed,
        first_image=image, last_image=last_image,
    )
