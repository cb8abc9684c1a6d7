"""Encoder and decoder stacks of the causal VAE.

Level 0 is pixel resolution; level i has 2**i smaller H and W. The first log2(tc) downsampling
steps (the ones next to pixels) also halve time, and the decoder mirrors this: its last
log2(tc) upsampling steps double time. Each level has its own width (`channels[i]`).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from .blocks import Downsample, ResBlock, Upsample
from .causal_conv import CausalConv3d


def temporal_steps(temporal_compression: int) -> int:
    """How many resampling steps (counted from the pixel side) change time."""
    return int(math.log2(temporal_compression))


class Level(nn.Module):
    """One resolution level: residual blocks, then an optional resampler (Identity at the end)."""

    def __init__(self, channels: int, num_blocks: int, resample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[ResBlock(channels) for _ in range(num_blocks)])
        self.resample = resample if resample is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.resample(self.blocks(x))


class Encoder(nn.Module):
    """video [B, in, T, H, W] -> moments [B, 2*latent, t, h, w] (mean and logvar, concatenated)."""

    def __init__(
        self,
        in_channels: int,
        latent_channels: int,
        channels: tuple[int, ...],
        num_res_blocks: int,
        temporal_compression: int,
    ) -> None:
        super().__init__()
        n_time = temporal_steps(temporal_compression)
        self.conv_in = CausalConv3d(in_channels, channels[0], 3)
        self.levels = nn.ModuleList()
        for i, ch in enumerate(channels):
            down = Downsample(ch, channels[i + 1], temporal=i < n_time) if i < len(channels) - 1 else None
            self.levels.append(Level(ch, num_res_blocks, down))
        # No attention in the mid block: a pure-conv network stays causal AND spatially local,
        # so encode/decode can later be tiled over space with halo exchange (as in the paper).
        self.mid = nn.Sequential(ResBlock(channels[-1]), ResBlock(channels[-1]))
        self.act = nn.SiLU()
        self.conv_out = CausalConv3d(channels[-1], 2 * latent_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_in(x)
        for level in self.levels:
            x = level(x)
        x = self.mid(x)
        return self.conv_out(self.act(x))


class Decoder(nn.Module):
    """latent [B, latent, t, h, w] -> video [B, out, T, H, W].

    `channels[i]` is the width at level i (level 0 = pixels), so the same class builds the full
    decoder (`decoder_channels`) and the thin one (`thin_decoder_channels`). Each level has one
    more residual block than the encoder's, as in LDM/MAGVIT decoders: decoding (hallucinating
    detail) is the harder direction, and the thin decoder makes the pixel-side blocks cheap.
    """

    def __init__(
        self,
        out_channels: int,
        latent_channels: int,
        channels: tuple[int, ...],
        num_res_blocks: int,
        temporal_compression: int,
    ) -> None:
        super().__init__()
        n_time = temporal_steps(temporal_compression)
        self.conv_in = CausalConv3d(latent_channels, channels[-1], 3)
        self.mid = nn.Sequential(ResBlock(channels[-1]), ResBlock(channels[-1]))
        # Stored from the lowest resolution up to pixels, in the order they run.
        self.levels = nn.ModuleList()
        for i in reversed(range(len(channels))):
            # Mirrors the encoder's Downsample(level i-1 -> i): temporal iff that one was.
            up = Upsample(channels[i], channels[i - 1], temporal=i - 1 < n_time) if i > 0 else None
            self.levels.append(Level(channels[i], num_res_blocks + 1, up))
        self.act = nn.SiLU()
        self.conv_out = CausalConv3d(channels[0], out_channels, 3)

    def forward(self, z: Tensor) -> Tensor:
        x = self.mid(self.conv_in(z))
        for level in self.levels:
            x = level(x)
        return self.conv_out(self.act(x))
