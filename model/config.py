"""Typed configuration for every component of a Seedance model bundle.

One `ModelConfig` describes a whole bundle (VAE, text encoder, DiT, refiner, rewriter, sampler
defaults, video defaults). It is what `config.json` in a model directory holds, what `seedance
info` prints, and the only thing the networks are built from: the same classes serve the `tiny`,
`small` and `seedance-1.0` presets (see presets.py), only the numbers differ.

Configs are frozen dataclasses; `to_dict` / `from_dict` round-trip through JSON. Each config
checks its own invariants in `__post_init__` and raises ConfigError naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from seedance.errors import ConfigError


def _require(cond: bool, field_name: str, rule: str) -> None:
    if not cond:
        raise ConfigError(f"{field_name}: {rule}")


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class VAEConfig:
    """Temporally causal 3D VAE (MAGVIT-v2 style).

    `compression` = (time, height, width) factors; frames come in 1 + time*k and the first
    frame is encoded alone, so an image is a 1-frame video. Each entry of `encoder_channels`
    is one resolution level; the spatial factor is 2 ** (levels - 1) and the temporal factor
    is taken by the first log2(time) downsampling steps. The thin decoder keeps the levels but
    uses `thin_decoder_channels` (narrower next to pixels) and loads the same encoder.
    """

    in_channels: int = 3
    latent_channels: int = 48
    compression: tuple[int, int, int] = (4, 16, 16)
    encoder_channels: tuple[int, ...] = (128, 256, 512, 512, 512)
    decoder_channels: tuple[int, ...] = (128, 256, 512, 512, 512)
    thin_decoder_channels: tuple[int, ...] = (64, 128, 256, 512, 512)
    num_res_blocks: int = 2
    # Per-channel latent normalisation: z_norm = (z - mean) / std. Empty = (0, 1).
    latent_mean: tuple[float, ...] = ()
    latent_std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        t, h, w = self.compression
        _require(h == w, "vae.compression", "height and width factors must be equal")
        _require(_is_pow2(t) and _is_pow2(h), "vae.compression", "factors must be powers of two")
        levels = len(self.encoder_channels)
        _require(2 ** (levels - 1) == h, "vae.encoder_channels",
                 f"needs log2({h})+1 = {int(math.log2(h)) + 1} levels for spatial factor {h}")
        _require(t <= h, "vae.compression", "temporal factor cannot exceed the spatial factor")
        for name in ("decoder_channels", "thin_decoder_channels"):
            _require(len(getattr(self, name)) == levels, f"vae.{name}",
                     f"must have {levels} levels like encoder_channels")
        for name in ("latent_mean", "latent_std"):
            v = getattr(self, name)
            _require(len(v) in (0, self.latent_channels), f"vae.{name}",
                     f"must be empty or have latent_channels={self.latent_channels} entries")
        _require(all(s > 0 for s in self.latent_std), "vae.latent_std", "must be positive")

    @property
    def temporal_compression(self) -> int:
        return self.compression[0]

    @property
    def spatial_compression(self) -> int:
        return self.compression[1]

    def latent_frames(self, frames: int) -> int:
        """Latent frames for `frames` pixel frames (must be 1 + temporal*k)."""
        tc = self.temporal_compression
        if frames < 1 or (frames - 1) % tc:
            raise ConfigError(f"frames: must be 1 + {tc}k, got {frames}")
        return 1 + (frames - 1) // tc

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, t, h, w) of the latent for a `frames` x `height` x `width` video (sizes unchecked:
        CausalVAE.latent_shape checks them)."""
        s = self.spatial_compression
        return (self.latent_channels, self.latent_frames(frames), height // s, width // s)

    def pixel_frames(self, latent_frames: int) -> int:
        return 1 + (latent_frames - 1) * self.temporal_compression


@dataclass(frozen=True)
class TextEncoderConfig:
    """A decoder-only LM (transformers `model_type`) whose hidden states condition the DiT.

    `tokenizer` is "byte" (UTF-8 bytes + specials, built here, no download) or a path to a
    tokenizer.json inside the model directory. `hidden_layer` picks which layer's hidden
    states condition the DiT (-1 = last, after the final norm).
    """

    model_type: str = "qwen2"
    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    max_length: int = 128
    hidden_layer: int = -1
    tokenizer: str = "byte"
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        _require(self.hidden_size % self.num_heads == 0, "text_encoder.hidden_size",
                 "must be divisible by num_heads")
        _require(self.num_heads % self.num_kv_heads == 0, "text_encoder.num_kv_heads",
                 "must divide num_heads")
        _require(self.max_length >= 8, "text_encoder.max_length", "must be at least 8")


TEXT_POOLS = ("attention", "sum")


@dataclass(frozen=True)
class DiTConfig:
    """Decoupled spatial/temporal DiT with MMDiT-style text joint attention (Seedance 1.0).

    Input channels = latent (noisy) + latent (condition frames) + 1 (mask) + extra_in_channels
    (the refiner's upsampled low-resolution latent). `depth` counts (spatial, temporal) layer
    pairs. `rope_dims` splits each head's dimensions between the 1D text/shot axis and the
    (t, h, w) video axes; empty = derived from head_dim.
    """

    latent_channels: int = 48
    extra_in_channels: int = 0
    patch_size: tuple[int, int, int] = (1, 1, 1)
    hidden_size: int = 3072
    num_heads: int = 24
    depth: int = 20
    mlp_ratio: float = 4.0
    text_dim: int = 3584
    temporal_window: tuple[int, int] = (8, 8)
    rope_dims: tuple[int, int, int, int] = ()  # (seq, t, h, w)
    rope_theta: float = 10000.0
    qk_norm: bool = True
    timestep_freq_dim: int = 256
    # The caption, pooled into one vector, joins the timestep embedding that drives
    # every layer's adaLN (SD3's pooled text). False keeps configs written before it loadable.
    pooled_text: bool = False
    # How the caption is pooled: "attention" (a learned query over the tokens, SD3-like) or "sum"
    # (every token through a shared MLP, summed: each word adds its own learned vector, as a class
    # embedding would). In the direction probe a fresh tiny DiT followed the direction word better
    # through "sum" (steering 0.26 after 2,500 steps, against 0.18 through "attention" and 0.32
    # for the true direction as an embedding; docs/TRAINING.md, session 11). Only read with
    # pooled_text.
    text_pool: str = "attention"

    def __post_init__(self) -> None:
        _require(self.text_pool in TEXT_POOLS, "dit.text_pool", f"must be one of {', '.join(TEXT_POOLS)}, "
                                                                 f"got {self.text_pool!r}")
        _require(self.hidden_size % self.num_heads == 0, "dit.hidden_size", "must be divisible by num_heads")
        _require(self.head_dim % 2 == 0, "dit.num_heads", "head_dim must be even for RoPE")
        _require(self.depth >= 1, "dit.depth", "must be at least 1")
        _require(all(p >= 1 for p in self.patch_size), "dit.patch_size", "entries must be >= 1")
        _require(all(w >= 1 for w in self.temporal_window), "dit.temporal_window", "entries must be >= 1")
        if self.rope_dims:
            _require(len(self.rope_dims) == 4, "dit.rope_dims", "must have 4 entries (seq, t, h, w)")
            _require(sum(self.rope_dims) == self.head_dim, "dit.rope_dims",
                     f"must sum to head_dim={self.head_dim}")
            _require(all(d % 2 == 0 for d in self.rope_dims), "dit.rope_dims", "entries must be even")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def in_channels(self) -> int:
        return 2 * self.latent_channels + 1 + self.extra_in_channels

    @property
    def rope_split(self) -> tuple[int, int, int, int]:
        """(seq, t, h, w) rotary dims per head. Default: 1/8 seq, then t, h, w share the rest."""
        if self.rope_dims:
            return self.rope_dims
        hd = self.head_dim
        seq = max(2, (hd // 8) // 2 * 2)
        rest = hd - seq
        hw = (rest // 3) // 2 * 2
        t = rest - 2 * hw
        return (seq, t, hw, hw)


@dataclass(frozen=True)
class RewriterConfig:
    """Prompt rewriter ("PE") backend: "template" (rule-based), "transformers" (a causal LM from a
    local directory, relative paths resolve against the model directory) or "openai" (an
    OpenAI-compatible chat endpoint; the key is read from the env var named `api_key_env`)."""

    backend: str = "template"
    path: str = ""
    endpoint: str = ""
    model: str = ""
    api_key_env: str = "SEEDANCE_REWRITER_API_KEY"
    max_new_tokens: int = 160
    timeout_s: float = 30.0
    # transformers backend: beam search width (1 = greedy). The tiny model sets 4: its rewriter's
    # greedy decoding dropped an attribute ("moves quickly to the The camera...") that 4 beams keep.
    num_beams: int = 1

    def __post_init__(self) -> None:
        _require(self.backend in ("template", "transformers", "openai"), "rewriter.backend",
                 "must be one of template, transformers, openai")
        _require(isinstance(self.num_beams, int) and self.num_beams >= 1, "rewriter.num_beams",
                 "must be an integer of at least 1")


@dataclass(frozen=True)
class SamplerConfig:
    """Flow-matching schedule defaults.

    Timesteps are shifted toward noise for larger inputs (SD3 style): the shift grows as
    sqrt(tokens / base_tokens) from `shift`, capped at `max_shift`.
    """

    steps: int = 30
    guidance: float = 5.0
    shift: float = 1.0
    base_tokens: int = 256
    max_shift: float = 12.0
    logit_mean: float = 0.0
    logit_std: float = 1.0
    refine_steps: int = 8
    refine_guidance: float = 1.0
    # The refiner's base shift; None = `shift`. Its own because the base DiT's sampling shift
    # can be tuned without moving the refiner off the schedule it was checked at.
    refine_shift: float | None = None

    def shift_for(self, refiner: bool) -> float:
        """The base shift (before the resolution term) of the base DiT's or the refiner's schedule."""
        return self.refine_shift if refiner and self.refine_shift is not None else self.shift


@dataclass(frozen=True)
class VideoConfig:
    """What the model was trained to make. The DiT generates at `base_resolution`; each of
    `refine_resolutions` is reached by the refiner (upsample, then denoise at that size),
    like the hosted API's 480p base with 720p/1080p refinement."""

    base_resolution: str = "480p"
    refine_resolutions: tuple[str, ...] = ()
    default_ratio: str = "16:9"
    default_frames: int = 121
    default_fps: int = 24
    max_frames: int = 289

    def __post_init__(self) -> None:
        _require(self.base_resolution not in self.refine_resolutions, "video.refine_resolutions",
                 "must not contain base_resolution")
        _require(self.default_frames <= self.max_frames, "video.default_frames", "must be <= max_frames")

    @property
    def resolutions(self) -> tuple[str, ...]:
        return (self.base_resolution, *self.refine_resolutions)


@dataclass(frozen=True)
class ModelConfig:
    """A whole model bundle."""

    name: str = "seedance-1.0"
    vae: VAEConfig = field(default_factory=VAEConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    refiner: DiTConfig | None = None
    rewriter: RewriterConfig = field(default_factory=RewriterConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    def __post_init__(self) -> None:
        _require(self.dit.latent_channels == self.vae.latent_channels, "dit.latent_channels",
                 "must equal vae.latent_channels")
        _require(self.dit.text_dim == self.text_encoder.hidden_size, "dit.text_dim",
                 "must equal text_encoder.hidden_size")
        if self.refiner is not None:
            _require(self.refiner.latent_channels == self.vae.latent_channels, "refiner.latent_channels",
                     "must equal vae.latent_channels")
            _require(self.refiner.extra_in_channels == self.vae.latent_channels,
                     "refiner.extra_in_channels", "must equal vae.latent_channels (the low-res latent)")
            _require(self.refiner.text_dim == self.text_encoder.hidden_size, "refiner.text_dim",
                     "must equal text_encoder.hidden_size")
            _require(bool(self.video.refine_resolutions), "video.refine_resolutions",
                     "must list at least one resolution when a refiner is configured")
        else:
            _require(not self.video.refine_resolutions, "video.refine_resolutions",
                     "must be empty without a refiner")

    @property
    def spatial_multiple(self) -> int:
        """Pixel sizes must be multiples of this (VAE factor x DiT patch)."""
        p = max(self.dit.patch_size[1:])
        return self.vae.spatial_compression * p

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data, "config")


def _from_dict(cls: type, data: Any, path: str) -> Any:
    """Build a (nested) frozen dataclass from plain JSON data, rejecting unknown keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{path}.{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        return _coerce(hint, value, path)
    if dataclasses.is_dataclass(hint):
        return _from_dict(hint, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list")
        return tuple(value)
    return value
