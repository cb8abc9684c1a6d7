"""CausalVAE: the temporally causal 3D VAE (MAGVIT-v2 / Seedance 1.0 style).

Pixel frames come in 1 + tc*k (tc = temporal compression). Frame 0 is encoded alone, each
later chunk of tc frames becomes one latent frame, so an image is a 1-frame video and
latent frame i depends only on pixel frames 0 .. tc*i (the last frame of chunk i). Decoding
is causal the same way: pixel frame f depends only on latent frames 0 .. ceil(f / tc).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seedance.errors import InvalidRequestError

from ..config import VAEConfig
from .distribution import LatentDistribution
from .networks import Decoder, Encoder
from .streaming import decode_tiled, iter_decode


class CausalVAE(nn.Module):
    """Encoder + decoder built from a VAEConfig.

    `thin_decoder=True` builds the decoder with `cfg.thin_decoder_channels`; the encoder is
    identical either way (same parameter names and shapes), so a thin-decoder VAE loads the
    full VAE's encoder weights and only its decoder is trained (encoder frozen), as in the paper.
    """

    def __init__(self, cfg: VAEConfig, thin_decoder: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.thin_decoder = thin_decoder
        tc = cfg.temporal_compression
        self.encoder = Encoder(
            cfg.in_channels, cfg.latent_channels, cfg.encoder_channels, cfg.num_res_blocks, tc
        )
        dec_channels = cfg.thin_decoder_channels if thin_decoder else cfg.decoder_channels
        self.decoder = Decoder(cfg.in_channels, cfg.latent_channels, dec_channels, cfg.num_res_blocks, tc)
        # Non-persistent: the config is the source of truth for the stats, so weight files do not
        # carry a second copy that could disagree with config.json. Buffers follow .to(device).
        self.register_buffer(
            "latent_mean", torch.tensor(cfg.latent_mean, dtype=torch.float32), persistent=False
        )
        self.register_buffer(
            "latent_std", torch.tensor(cfg.latent_std, dtype=torch.float32), persistent=False
        )

    # ---- shapes -------------------------------------------------------------------------------

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, t, h, w) of the latent for a `frames` x `height` x `width` video."""
        self._check_pixel_dims(frames, height, width)
        return self.cfg.latent_shape(frames, height, width)

    def _check_pixel_dims(self, frames: int, height: int, width: int) -> None:
        tc, s = self.cfg.temporal_compression, self.cfg.spatial_compression
        if frames < 1 or (frames - 1) % tc:
            raise InvalidRequestError("video.frames", f"must be 1 + {tc}k (k >= 0), got {frames}")
        for name, size in (("height", height), ("width", width)):
            if size < s or size % s:
                raise InvalidRequestError(f"video.{name}", f"must be a positive multiple of {s}, got {size}")

    @staticmethod
    def _check_rank_channels(x: Tensor, name: str, channels: int, layout: str) -> None:
        if x.dim() != 5:
            raise InvalidRequestError(name, f"must be a 5D tensor {layout}, got shape {tuple(x.shape)}")
        if x.shape[1] != channels:
            raise InvalidRequestError(
                f"{name}.channels", f"must be {channels} (dim 1 of {layout}), got {x.shape[1]}"
            )

    # ---- encode / decode ----------------------------------------------------------------------

    def encode(self, video: Tensor) -> LatentDistribution:
        """video [B, 3, T, H, W] in [-1, 1] -> latent distribution over [B, C, t, h, w]."""
        self._check_rank_channels(video, "video", self.cfg.in_channels, "[B, C, T, H, W]")
        self._check_pixel_dims(*video.shape[2:])
        return LatentDistribution.from_moments(self.encoder(video))

    def decode(self, z: Tensor) -> Tensor:
        """z [B, C, t, h, w] (un-normalised) -> video [B, 3, 1 + tc*(t-1), s*h, s*w], roughly [-1, 1]."""
        self._check_rank_channels(z, "latent", self.cfg.latent_channels, "[B, C, t, h, w]")
        for name, size in zip(("frames", "height", "width"), z.shape[2:], strict=True):
            if size < 1:
                raise InvalidRequestError(f"latent.{name}", f"must be at least 1, got {size}")
        if not torch.is_grad_enabled():
            # Inference: the same layers in one chunk through streaming.py, whose CPU convs always
            # use oneDNN (PyTorch's heuristic picks a slower kernel for small convs). Same maths.
            return decode_tiled(self.decoder, z, self.cfg.spatial_compression)
        return self.decoder(z)

    def decode_chunked(
        self,
        z: Tensor,
        chunk_latent_frames: int = 2,
        tile: int | tuple[int, int] | None = None,
        halo: int | None = None,
    ) -> Tensor:
        """`decode(z)` in temporal chunks of `chunk_latent_frames` with a causal cache (equal to it
        up to float rounding) and, if `tile` is given, in spatial tiles of `tile` latent pixels with
        a `halo` (default: the decoder's receptive radius, which is exact). See streaming.py."""
        self._check_rank_channels(z, "latent", self.cfg.latent_channels, "[B, C, t, h, w]")
        if chunk_latent_frames < 1:
            raise InvalidRequestError("decode_chunk", f"must be at least 1 latent frame, got {chunk_latent_frames}")
        return decode_tiled(self.decoder, z, self.cfg.spatial_compression, tile, halo, chunk_latent_frames)

    def iter_decode(self, z: Tensor, chunk_latent_frames: int = 2):
        """Yield decode(z)'s pixel frames chunk by chunk (streaming; nothing clip-sized is held)."""
        self._check_rank_channels(z, "latent", self.cfg.latent_channels, "[B, C, t, h, w]")
        return iter_decode(self.decoder, z, chunk_latent_frames)

    def forward(
        self, video: Tensor, sample_posterior: bool = True, generator: torch.Generator | None = None
    ) -> tuple[Tensor, LatentDistribution]:
        """Reconstruction for training: (decode(sample or mode of encode(video)), posterior)."""
        posterior = self.encode(video)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    # ---- latent normalisation -----------------------------------------------------------------

    def normalize(self, z: Tensor) -> Tensor:
        """(z - latent_mean) / latent_std per channel: what the DiT sees. Identity without stats."""
        if self.latent_mean.numel() == 0 and self.latent_std.numel() == 0:
            return z
        mean, std = self._stats(z)
        return (z - mean) / std

    def denormalize(self, z: Tensor) -> Tensor:
        """Inverse of `normalize`: z * latent_std + latent_mean per channel."""
        if self.latent_mean.numel() == 0 and self.latent_std.numel() == 0:
            return z
        mean, std = self._stats(z)
        return z * std + mean

    def _stats(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Per-channel (mean, std) shaped to broadcast over [B, C, t, h, w]; an empty list means 0 / 1."""
        c = self.cfg.latent_channels
        if z.dim() != 5 or z.shape[1] != c:
            raise InvalidRequestError("latent", f"must be [B, {c}, t, h, w], got shape {tuple(z.shape)}")
        mean = self.latent_mean if self.latent_mean.numel() else torch.zeros(c, device=z.device)
        std = self.latent_std if self.latent_std.numel() else torch.ones(c, device=z.device)
        shape = (1, c, 1, 1, 1)
        return mean.to(z.dtype).view(shape), std.to(z.dtype).view(shape)
