"""Bounded-memory VAE decoding: temporal chunks with a causal cache, and optional spatial tiles.

Temporal chunks (exact). Every decoder conv is causal in time with stride 1, every norm is
per voxel and every upsample is per frame, so pixel frames depend on past latents only through
each conv's last (kernel_t - 1) input frames. `StreamingDecoder` runs the decoder's own modules
(same weights, no copy) chunk by chunk and keeps, per conv, those last input frames as a cache:
the first chunk pads time by replicating frame 0 (as `CausalConv3d` does), later chunks prepend
the cache instead, and the temporal upsampler keeps frame 0 single only in the first chunk.
Each output frame therefore reads exactly the inputs it reads in a full decode: results equal
`Decoder.forward` up to float rounding (different T changes the conv's blocking; tested to
atol 1e-5 in float32). Peak activation memory is that of a `chunk`-latent-frame clip plus the
caches (kernel_t - 1 = 2 frames per conv), independent of the clip's length. On CPU the convs
run through oneDNN directly (`conv3d` below): PyTorch's own heuristic sends small batch-1 convs
(short chunks, thin levels) to a much slower im2col kernel.

Spatial tiles (exact with the default halo). The decoder has no attention and no spatial
pooling, so an output pixel depends on a bounded latent neighbourhood: `receptive_radius`
computes it from the modules (13.5 latent pixels -> 15 with rounding for the tiny preset, whose
latents are 8x8 at 64p, so tiling only pays at larger sizes). Each tile decodes its latent
window grown by `halo` on every side (clipped at the frame border) and keeps only its own
core. With halo >= receptive_radius the result equals the full decode (atol 1e-5, tested); a
smaller halo is an approximation whose error depends on the weights (zero padding replaces real
neighbours near tile seams) and is NOT bounded: use it only after measuring it on trained
weights. Tiles combine with temporal chunks (each tile streams over time with its own cache).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import ResBlock, Upsample
from .causal_conv import CausalConv3d
from .networks import Decoder, Level


def conv3d(conv: nn.Conv3d, x: Tensor) -> Tensor:
    """`conv(x)`, but on CPU float32 without autograd always through oneDNN (mkldnn).

    PyTorch only picks oneDNN for a batch-1 3x3x3 conv when B*C*T*H > 20480; below that it runs
    the native im2col kernel, which is several times slower and allocates a 27x-input im2col
    buffer. Short chunks and narrow (thin-decoder) levels fall below that line, so chunking would
    cost time and memory instead of saving it. Same maths; rounding differs at ~1e-6.
    """
    if (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
            and torch.backends.mkldnn.is_available() and isinstance(conv.padding, tuple)):
        return torch.mkldnn_convolution(x.contiguous(), conv.weight, conv.bias, conv.padding, conv.stride,
                                        conv.dilation, conv.groups)
    return conv(x)


class StreamingDecoder:
    """Decode a latent clip in temporal chunks through `decoder`'s modules, carrying a causal cache.

        stream = StreamingDecoder(vae.decoder)
        for z_chunk in z.split(2, dim=2):
            frames = stream.step(z_chunk)   # pixel frames for these latent frames, in order

    The first step yields 1 + tc*(k-1) pixel frames for k latent frames, later steps tc*k, so the
    concatenation is exactly the full decode's 1 + tc*(t-1) frames. `reset()` starts a new clip.
    """

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.reset()

    def reset(self) -> None:
        self.cache: dict[int, Tensor] = {}
        self.first = True

    # -- the decoder's layers, chunk-aware ---------------------------------------------------
    def _conv(self, conv: CausalConv3d, x: Tensor) -> Tensor:
        if conv.conv.stride[0] != 1:
            raise ValueError("streaming decode needs stride-1 time convs (the decoder has only those)")
        pad = conv.time_pad
        if pad:
            past = self.cache.get(id(conv))
            if past is None:  # clip start: replicate frame 0 into the past, as CausalConv3d does
                past = x[:, :, :1].expand(-1, -1, pad, -1, -1)
            x = torch.cat([past, x], dim=2)
            # The last `pad` input frames (replicated/cached ones included when the chunk is shorter).
            self.cache[id(conv)] = x[:, :, -pad:].clone()
        return conv3d(conv.conv, x)

    def _resblock(self, block: ResBlock, x: Tensor) -> Tensor:
        return x + block.residual(x, self._conv)

    def _upsample(self, up: Upsample, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        if up.temporal:
            # Only the clip's frame 0 stays single (see causal_conv.upsample_nearest).
            x = torch.cat([x[:, :, :1], x[:, :, 1:].repeat_interleave(2, dim=2)], dim=2) if self.first \
                else x.repeat_interleave(2, dim=2)
        return self._conv(up.conv, x)

    def _level(self, level: Level, x: Tensor) -> Tensor:
        for block in level.blocks:
            x = self._resblock(block, x)
        if isinstance(level.resample, Upsample):
            x = self._upsample(level.resample, x)
        elif not isinstance(level.resample, nn.Identity):
            raise TypeError(f"unexpected decoder resampler {type(level.resample).__name__}")
        return x

    def step(self, z: Tensor) -> Tensor:
        """Latent frames [B, C, k, h, w] (the next k of the clip) -> their pixel frames."""
        d = self.decoder
        x = self._conv(d.conv_in, z)
        for block in d.mid:
            x = self._resblock(block, x)
        for level in d.levels:
            x = self._level(level, x)
        out = self._conv(d.conv_out, d.act(x))
        self.first = False
        return out


def iter_decode(decoder: Decoder, z: Tensor, chunk_latent_frames: int) -> Iterator[Tensor]:
    """Yield the pixel frames of decoder(z) chunk by chunk (`chunk_latent_frames` latents each)."""
    if chunk_latent_frames < 1:
        raise ValueError(f"chunk_latent_frames: must be at least 1, got {chunk_latent_frames}")
    stream = StreamingDecoder(decoder)
    for part in z.split(chunk_latent_frames, dim=2):
        yield stream.step(part)


def receptive_radius(decoder: Decoder) -> int:
    """Latent pixels each side that one output pixel can depend on (rounded up, plus 1 for the
    nearest upsamplers' alignment): a tile halo at least this large makes tiling exact."""
    radius, scale = 0.0, 1.0

    def conv(c: CausalConv3d) -> None:
        nonlocal radius
        kh, kw = c.conv.kernel_size[1:]
        radius += max(kh, kw) // 2 / scale

    conv(decoder.conv_in)
    for block in decoder.mid:
        conv(block.conv1)
        conv(block.conv2)
    for level in decoder.levels:
        for block in level.blocks:
            conv(block.conv1)
            conv(block.conv2)
        if isinstance(level.resample, Upsample):
            scale *= 2
            conv(level.resample.conv)
    conv(decoder.conv_out)
    return math.ceil(radius) + 1


def _spans(size: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core_start, core_end, window_start, window_end) latent spans along one axis."""
    spans = []
    for start in range(0, size, tile):
        end = min(start + tile, size)
        spans.append((start, end, max(0, start - halo), min(size, end + halo)))
    return spans


@torch.no_grad()
def decode_tiled(
    decoder: Decoder,
    z: Tensor,
    spatial_compression: int,
    tile: int | tuple[int, int] | None = None,
    halo: int | None = None,
    chunk_latent_frames: int | None = None,
) -> Tensor:
    """decoder(z) assembled from spatial tiles and/or temporal chunks, into one output tensor.

    tile: core tile size in latent pixels (h, w) (None = the whole frame); halo: latent pixels
    of context each side (None = receptive_radius(decoder): exact); chunk_latent_frames: temporal
    chunk (None = all frames at once). Peak activation memory ~ one (tile + 2 halo)^2 x chunk.
    """
    b, _, t, h, w = z.shape
    th, tw = (h, w) if tile is None else ((tile, tile) if isinstance(tile, int) else tile)
    if th < 1 or tw < 1:
        raise ValueError(f"tile: must be at least 1 latent pixel, got {(th, tw)}")
    halo = receptive_radius(decoder) if halo is None else halo
    if halo < 0:
        raise ValueError(f"halo: must be >= 0, got {halo}")
    chunk = chunk_latent_frames or t
    s = spatial_compression
    out: Tensor | None = None
    for y0, y1, wy0, wy1 in _spans(h, th, halo):
        for x0, x1, wx0, wx1 in _spans(w, tw, halo):
            window = z[:, :, :, wy0:wy1, wx0:wx1]
            f0 = 0
            for frames in iter_decode(decoder, window, chunk):
                if out is None:
                    out = frames.new_empty(b, frames.shape[1], _pixel_frames(decoder, t), h * s, w * s)
                core = frames[:, :, :, (y0 - wy0) * s : (y1 - wy0) * s, (x0 - wx0) * s : (x1 - wx0) * s]
                out[:, :, f0 : f0 + frames.shape[2], y0 * s : y1 * s, x0 * s : x1 * s] = core
                f0 += frames.shape[2]
    assert out is not None
    return out


def _pixel_frames(decoder: Decoder, latent_frames: int) -> int:
    tc = 2 ** sum(1 for level in decoder.levels if isinstance(level.resample, Upsample) and level.resample.temporal)
    return 1 + tc * (latent_frames - 1)
