"""The causal primitives every VAE layer is made of: CausalConv3d and first-frame-preserving
nearest upsampling (the network has no normalisation layers: see blocks.ResBlock). Nothing here mixes information from later frames.

A causal conv pads time only on the past side, so output frame t never reads input frames
after t. Stacked, this gives the VAE its contract: latent frame i depends only on pixel frames
up to the last frame of chunk i, and an image (a 1-frame video) encodes the same whether or not
frames follow it.

Padding choices (the lead should know these):
- Time: the first frame is REPLICATED into the past (not zero-padded). A lone first frame then
  looks to every kernel like a static clip, so images and the first frame of videos share one
  code path, and no fake "black frame" appears at the start of every clip.
- Space: zeros, centred (ordinary 'same' padding). Spatial padding is purely local, so a
  decoder can later be split into spatial tiles with halo exchange without changing results.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _triple(v: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else v


class CausalConv3d(nn.Module):
    """Conv3d with causal (past-only, replicate) time padding and centred zero spatial padding.

    With `stride=(s, ...)` and time kernel k, T input frames give 1 + (T - 1) // s output frames:
    output j reads input frames s*j - (k - 1) .. s*j (replicated frame 0 for negative indices).
    So with k=3, s=2, frames 1+2k -> 1+k and output 0 sees only frame 0: the first frame stays
    separate when time is halved, which is exactly what the encoder's temporal downsampling needs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int] = 3,
        stride: int | tuple[int, int, int] = 1,
    ) -> None:
        super().__init__()
        kt, kh, kw = _triple(kernel_size)
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernel_size: spatial sizes must be odd for centred padding, got {kh}x{kw}")
        self.time_pad = kt - 1
        # Spatial zero padding is done by the conv itself; time padding is done by hand in forward.
        self.conv = nn.Conv3d(
            in_channels, out_channels, (kt, kh, kw), stride=_triple(stride), padding=(0, kh // 2, kw // 2)
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.time_pad:
            first = x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1)
            x = torch.cat([first, x], dim=2)
        return self.conv(x)


def upsample_nearest(x: Tensor, temporal: bool) -> Tensor:
    """Nearest-neighbour x2 in H and W, and (if `temporal`) frames 1+k -> 1+2k in time.

    The first frame stays a single frame; every later frame is repeated twice. This mirrors the
    encoder's strided causal conv, where frame 0 is kept alone and later frames are taken in pairs.
    """
    x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
    if temporal and x.shape[2] > 1:
        x = torch.cat([x[:, :, :1], x[:, :, 1:].repeat_interleave(2, dim=2)], dim=2)
    return x
