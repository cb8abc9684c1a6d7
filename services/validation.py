"""CreateTaskRequest -> GenerationRequest + Plan, with the in-process pipeline's own rules.

The rules live in one place, `seedance.model.pipeline.plan()` (torch-free), so the gateway
rejects exactly what the CLI rejects; this module only adds what exists on the wire alone
(image bytes, idempotency keys) and renames fields to their CreateTaskRequest names so an
INVALID_ARGUMENT message names the field the client actually set.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

from PIL import Image

import seedance.model
from seedance.errors import InvalidRequestError, ModelLoadError
from seedance.model.config import ModelConfig
from seedance.model.pipeline.request import GenerationRequest, Plan, plan
from seedance.protos.seedance.v1 import video_generation_pb2 as vg

MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Larger images decode to hundreds of MB before being fitted to the video: refuse them up front.
MAX_IMAGE_PIXELS = 8192 * 8192
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # what PIL may sniff: a small attack surface
MAX_IDEMPOTENCY_KEY_CHARS = 128
# plan()'s names for the two images -> the CreateTaskRequest fields that carry them.
_WIRE_FIELDS = {"image": "first_frame", "last_image": "last_frame"}


def decode_image(data: bytes, field: str) -> Image.Image:
    """Encoded image bytes -> an RGB PIL image, or InvalidRequestError naming `field`."""
    if not data:
        raise InvalidRequestError(field, "image data must not be empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidRequestError(field, f"image must be at most {MAX_IMAGE_BYTES} bytes, got {len(data)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise InvalidRequestError(
                    field, f"image must have at most {MAX_IMAGE_PIXELS} pixels, got {img.width}x{img.height}")
            img.load()
            return img.convert("RGB")
    except InvalidRequestError:
        raise
    except Exception as e:  # untrusted bytes: any decoder failure is the client's bad input
        raise InvalidRequestError(field, f"not a decodable image ({', '.join(IMAGE_FORMATS)}): "
                                         f"{e.__class__.__name__}") from None


def to_generation_request(req: vg.CreateTaskRequest) -> GenerationRequest:
    """The wire request as the pipeline's GenerationRequest (images decoded, unset = None)."""

    def opt(name: str) -> int | float | None:
        return getattr(req, name) if req.HasField(name) else None

    def image(name: str) -> Image.Image | None:
        return decode_image(getattr(req, name).data, name) if req.HasField(name) else None

    return GenerationRequest(
        prompt=req.prompt, shots=list(req.shots), image=image("first_frame"), last_image=image("last_frame"),
        frames=opt("frames"), duration=opt("duration"), fps=opt("fps"),
        resolution=req.resolution or None, ratio=req.ratio or None, seed=opt("seed"), steps=opt("steps"),
        guidance=opt("guidance"), camera_fixed=req.camera_fixed, refine_steps=opt("refine_steps"),
    )


def validate_create(req: vg.CreateTaskRequest, cfg: ModelConfig) -> tuple[GenerationRequest, Plan]:
    """Check a CreateTaskRequest against the model; raises InvalidRequestError(field, rule).

    The returned request carries the resolved seed (a random one is drawn here, once), so a task
    that is retried or resumed on another replica generates the same video.
    """
    if len(req.idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise InvalidRequestError("idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters, "
                                                     f"got {len(req.idempotency_key)}")
    gen = to_generation_request(req)
    try:
        p = plan(gen, cfg)
    except InvalidRequestError as e:
        if e.field in _WIRE_FIELDS:
            raise InvalidRequestError(_WIRE_FIELDS[e.field], e.rule) from None
        raise
    gen.seed = p.seed
    return gen, p


def request_echo(req: vg.CreateTaskRequest) -> vg.CreateTaskRequest:
    """The request to store in Task.request: image bytes replaced by their sha256 and size."""
    echo = vg.CreateTaskRequest()
    echo.CopyFrom(req)
    for name in ("first_frame", "last_frame"):
        if req.HasField(name):
            data = getattr(req, name).data
            getattr(echo, name).CopyFrom(vg.Image(sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    return echo


def load_model_config(model_dir: str | Path | None = None) -> ModelConfig:
    """A model's config without loading torch: `model_dir`/config.json, else the embedded model's
    (the same answer as bundle.default_config / read_config, which live in a torch module)."""
    embedded = Path(seedance.model.__file__).parent / "weights" / "tiny"
    path = Path(model_dir or embedded) / "config.json"
    if path.is_file():
        try:
            return ModelConfig.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as e:
            raise ModelLoadError(f"{path}: invalid model config: {e}") from None
    if model_dir:
        raise ModelLoadError(f"{model_dir}: not a model directory (no config.json)")
    from seedance.model.presets import tiny

    return tiny()
