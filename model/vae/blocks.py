"""Residual and resampling blocks of the causal VAE. Each is causal because each is built only
from CausalConv3d, per-voxel norms and activations, and first-frame-preserving resampling."""

from __future__ import annotations

from torch import Tensor, nn

from .causal_conv import CausalConv3d, ChannelRMSNorm, upsample_nearest


class ResBlock(nn.Module):
    """Pre-norm residual block: x + conv(silu(norm(conv(silu(norm(x)))))).

    Channel counts never change inside a block: width changes happen in the resampling convs
    (Downsample / Upsample), so the skip path is always the identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = ChannelRMSNorm(channels)
        self.conv1 = CausalConv3d(channels, channels, 3)
        self.norm2 = ChannelRMSNorm(channels)
        self.conv2 = CausalConv3d(channels, channels, 3)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.act(self.norm2(h)))
        return x + h


class Downsample(nn.Module):
    """Halve H and W (and time, frames 1+2k -> 1+k, if `temporal`) with one strided causal conv.

    A time kernel of 3 with stride 2 and 2 replicated past frames makes output j read input
    frames 2j-2 .. 2j: output 0 sees frame 0 alone, and no output reads a frame after 2j.
    The conv also moves from `in_channels` to the next level's width.
    """

    def __init__(self, in_channels: int, out_channels: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.conv = CausalConv3d(in_channels, out_channels, 3, stride=(2 if temporal else 1, 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W (and time, frames 1+k -> 1+2k, if `temporal`) by nearest repeat + causal conv.

    The conv maps to the next (higher-resolution) level's width, so a thin decoder pays its
    narrow width on the expensive high-resolution convs.
    """

    def __init__(self, in_channels: int, out_channels: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.conv = CausalConv3d(in_channels, out_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(upsample_nearest(x, self.temporal))
