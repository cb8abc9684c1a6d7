"""The three model scales. Same classes, different numbers (DESIGN.md section 2).

- `tiny`: trains every stage on a 2-core CPU (ShapesWorld); the embedded default; every test.
- `small`: a single-GPU research size (~256px base, refiner to 480p).
- `seedance-1.0`: production shapes. The paper fixes the VAE (4x16x16 compression, 48 latent
  channels, no patchify in the DiT) and the 480p base with a refiner to 720p/1080p; it does
  not publish the DiT's width, depth or heads, the temporal window, or the text encoder's size.
  Our choices, at published scales: a 3072-wide, 24-head DiT with 20 (spatial, temporal)
  layer pairs (about 10B parameters; Wan 2.1-14B, for comparison, is 5120 wide and 40 deep),
  8x8-latent temporal windows, and a Qwen2.5-7B-shaped text encoder. `seedance info` prints
  the exact parameter counts from a meta-device build.
"""

from __future__ import annotations

from dataclasses import replace

from seedance.errors import ConfigError
from seedance.model.config import (
    DiTConfig,
    ModelConfig,
    SamplerConfig,
    TextEncoderConfig,
    VAEConfig,
    VideoConfig,
)


def _refiner_of(dit: DiTConfig, depth: int | None = None) -> DiTConfig:
    """The refiner is the base DiT's family with the low-res latent as extra input channels,
    so it can be initialised from the base weights (refiner.init_from_base)."""
    return replace(dit, extra_in_channels=dit.latent_channels, depth=depth or dit.depth)


def tiny() -> ModelConfig:
    vae = VAEConfig(
        latent_channels=8,
        compression=(4, 8, 8),
        encoder_channels=(32, 64, 64, 128),
        decoder_channels=(32, 64, 64, 128),
        thin_decoder_channels=(16, 32, 64, 128),
        num_res_blocks=1,
    )
    # The DiT reads the token embeddings (layer 0), not the last layer: this 2-layer LM's last layer
    # keeps little of a word that does not change the next token (left and right differ by 9% of
    # the hidden norm there, 67% at the embeddings), and the pooled caption learned the direction
    # word only from the embeddings (docs/TRAINING.md, sessions 7 and 9).
    text = TextEncoderConfig(
        vocab_size=512, hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
        intermediate_size=256, max_length=96, hidden_layer=0,
    )
    # Temporal windows of 8 x 8 latent pixels: the whole frame at 64px, so a later frame's token can
    # attend to the subject in the first frame wherever it moved from. With 4 x 4 windows a subject
    # crossing a window edge has to be relayed through a spatial layer, and a fresh DiT learned the
    # direction word ~2.5x slower (direction probe at 1,500 steps: steering 0.27 against 0.11, I2V
    # direction 16/32 against 5/32; docs/TRAINING.md, session 12). The refiner keeps 4 x 4 windows on
    # its 16 x 16 latents: its job is local detail, and nothing was measured there.
    dit = DiTConfig(
        latent_channels=8, hidden_size=128, num_heads=4, depth=4, text_dim=128,
        temporal_window=(8, 8), pooled_text=True, text_pool="sum",
    )
    return ModelConfig(
        name="tiny",
        vae=vae,
        text_encoder=text,
        dit=dit,
        refiner=replace(_refiner_of(dit, depth=2), temporal_window=(4, 4)),
        # Guidance 4: on the 192 t2v-grid prompts the session-14 model scores colour / direction
        # 88% / 92% at 4, 84% / 88% at 5, 79% / 84% at 7 and 79% / 89% at 3, and its moving
        # subjects stay whole (at 7 they break into fragments). Sessions 6-13 sampled at 7 (a
        # session-6 model, whose direction nothing could see, drew colour 83% at 7 against 70% at
        # 4). Shift 3 for the base DiT's sampling (the recipe trains at 1; the refiner keeps 1):
        # the session-10 DiT drew the colour in 91% of them against 85% at 1. docs/TRAINING.md.
        sampler=SamplerConfig(steps=12, guidance=4.0, shift=3.0, base_tokens=256, refine_steps=4, refine_shift=1.0),
        video=VideoConfig(
            base_resolution="64p", refine_resolutions=("128p",), default_ratio="1:1",
            default_frames=17, default_fps=8, max_frames=65,
        ),
    )


def small() -> ModelConfig:
    vae = VAEConfig(
        latent_channels=48,
        compression=(4, 16, 16),
        encoder_channels=(64, 128, 256, 256, 256),
        decoder_channels=(64, 128, 256, 256, 256),
        thin_decoder_channels=(32, 64, 128, 256, 256),
        num_res_blocks=2,
    )
    # Qwen2.5-0.5B shape.
    text = TextEncoderConfig(
        vocab_size=151936, hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2,
        intermediate_size=4864, max_length=256, tokenizer="tokenizer.json", rope_theta=1e6,
    )
    dit = DiTConfig(
        latent_channels=48, hidden_size=1024, num_heads=16, depth=12, text_dim=896,
        temporal_window=(8, 8), pooled_text=True,
    )
    return ModelConfig(
        name="small",
        vae=vae,
        text_encoder=text,
        dit=dit,
        refiner=_refiner_of(dit, depth=8),
        sampler=SamplerConfig(steps=30, guidance=5.0, shift=3.0, base_tokens=1024),
        video=VideoConfig(
            base_resolution="256p", refine_resolutions=("480p",), default_ratio="16:9",
            default_frames=49, default_fps=12, max_frames=145,
        ),
    )


def seedance_1_0() -> ModelConfig:
    vae = VAEConfig()  # (4, 16, 16), 48 channels: the paper's numbers
    # Qwen2.5-7B shape (our assumption; the paper only says "decoder-only LLM").
    text = TextEncoderConfig(
        vocab_size=152064, hidden_size=3584, num_layers=28, num_heads=28, num_kv_heads=4,
        intermediate_size=18944, max_length=512, tokenizer="tokenizer.json", rope_theta=1e6,
    )
    dit = DiTConfig(latent_channels=48, hidden_size=3072, num_heads=24, depth=20, text_dim=3584, pooled_text=True)
    return ModelConfig(
        name="seedance-1.0",
        vae=vae,
        text_encoder=text,
        dit=dit,
        refiner=_refiner_of(dit),
        sampler=SamplerConfig(steps=40, guidance=5.0, shift=5.0, base_tokens=8160, refine_steps=8),
        video=VideoConfig(
            base_resolution="480p", refine_resolutions=("720p", "1080p"), default_ratio="16:9",
            default_frames=121, default_fps=24, max_frames=289,
        ),
    )


PRESETS = {"tiny": tiny, "small": small, "seedance-1.0": seedance_1_0}


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f"preset: unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
